"""A checkpoint written by MIC's code (or with another module order) resumes and trains on.

MIC's MixVisionTransformer registers patch_embed1..4 before the stages' blocks and norms; this
project registered them stage by stage until it took MIC's order. torch saves AdamW's moments
and mmcv's one-group-per-parameter hyperparameters by position, so the runner maps them by
name. The writer here is the tiny MIC(HRDA) UDA model with its backbone modules re-registered in
the writer's order, and the file is laid out as MIC's runner writes it (meta.iter = N - 1, no
train_state, no random states).
"""
import logging
from collections import OrderedDict

import pytest
import torch
from mmcv.runner import build_optimizer
from mmcv.runner.checkpoint import get_state_dict, weights_to_cpu

from mmseg.core.runner.iter_based_runner import SafeIterBasedRunner
from mmseg.utils.errors import UserError

from uda_helpers import batch, build, seed_all, tiny_cfg

STAGES = range(1, 5)
# MIC's MixVisionTransformer.__init__: the four patch embeddings, then block/norm per stage.
MIC_ORDER = [f'patch_embed{i}' for i in STAGES] + [m for i in STAGES
                                                   for m in (f'block{i}', f'norm{i}')]
STAGEWISE_ORDER = [m for i in STAGES for m in (f'patch_embed{i}', f'block{i}', f'norm{i}')]


def with_backbone_order(uda_model, order):
    for segmentor in (uda_model.get_model(), uda_model.get_ema_model(),
                      uda_model.get_imnet_model()):
        modules = segmentor.backbone._modules
        segmentor.backbone._modules = OrderedDict((name, modules[name]) for name in order)
    return uda_model


def save_as_mic(model, optimizer, path, iterations):
    torch.save(dict(meta=dict(iter=iterations - 1, epoch=1, mmcv_version='1.3.7'),
                    state_dict=weights_to_cpu(get_state_dict(model)),
                    optimizer=optimizer.state_dict()), path)


def runner_for(model, optimizer, tmp_path):
    return SafeIterBasedRunner(model=model, optimizer=optimizer, work_dir=str(tmp_path),
                               logger=logging.getLogger('test'), max_iters=10)


@pytest.fixture(scope='module')
def cfg():
    return tiny_cfg()


@pytest.mark.parametrize('writer_order', [MIC_ORDER, STAGEWISE_ORDER],
                         ids=['mic_order', 'stagewise_order'])
def test_checkpoint_of_another_module_order_resumes_and_trains_on_as_the_writer(
        cfg, writer_order, tmp_path):
    writer = with_backbone_order(build(cfg), writer_order)
    writer_opt = build_optimizer(writer, cfg.optimizer)
    seed_all()
    writer.train_step(batch(), writer_opt)
    path = str(tmp_path / 'iter_1.pth')
    save_as_mic(writer, writer_opt, path, iterations=1)

    reader = build(cfg, seed=1)
    reader_opt = build_optimizer(reader, cfg.optimizer)
    runner_for(reader, reader_opt, tmp_path).resume(path)

    writer_params = dict(writer.named_parameters())
    writer_group = {id(p): g for g in writer_opt.param_groups for p in g['params']}
    reader_group = {id(p): g for g in reader_opt.param_groups for p in g['params']}
    moved = 0
    for name, param in reader.named_parameters():
        source = writer_params[name]
        for key in ('lr', 'initial_lr', 'weight_decay'):
            assert reader_group[id(param)].get(key) == writer_group[id(source)].get(key), name
        if source in writer_opt.state:
            moved += 1
            for key in ('exp_avg', 'exp_avg_sq'):
                assert torch.equal(reader_opt.state[param][key],
                                   writer_opt.state[source][key]), (name, key)
    assert moved > 100

    # One more iteration on both: the resumed run is the writer's run.
    seed_all(1)
    writer.train_step(batch(seed=1), writer_opt)
    seed_all(1)
    reader.train_step(batch(seed=1), reader_opt)
    assert reader.local_iter == writer.local_iter == 2
    trained = dict(writer.get_model().named_parameters())
    for name, param in reader.get_model().named_parameters():
        assert torch.equal(param, trained[name]), name


def test_head_lr_and_norm_decay_stay_on_their_parameters_after_a_mic_resume(cfg, tmp_path):
    """The per-parameter groups (decoder 10x lr, no decay on norms) follow the names."""
    writer = with_backbone_order(build(cfg), STAGEWISE_ORDER)
    writer_opt = build_optimizer(writer, cfg.optimizer)
    path = str(tmp_path / 'iter_1.pth')
    save_as_mic(writer, writer_opt, path, iterations=1)
    reader = build(cfg)
    reader_opt = build_optimizer(reader, cfg.optimizer)
    base_lr = cfg.optimizer.lr
    runner_for(reader, reader_opt, tmp_path).resume(path)
    group = {id(p): g for g in reader_opt.param_groups for p in g['params']}
    params = dict(reader.named_parameters())
    assert group[id(params['model.decode_head.scale_attention.fuse_layer.conv.weight'])]['lr'] == \
        pytest.approx(10 * base_lr)
    assert group[id(params['model.backbone.patch_embed2.proj.weight'])]['lr'] == \
        pytest.approx(base_lr)
    assert group[id(params['model.backbone.norm1.weight'])]['weight_decay'] == 0


def test_checkpoint_of_another_model_is_refused_with_one_clear_error(cfg, tmp_path):
    writer = build(cfg)
    writer_opt = build_optimizer(writer, cfg.optimizer)
    seed_all()
    writer.train_step(batch(), writer_opt)
    checkpoint = dict(meta=dict(iter=0), state_dict=weights_to_cpu(get_state_dict(writer)),
                      optimizer=writer_opt.state_dict())
    checkpoint['optimizer']['param_groups'] = checkpoint['optimizer']['param_groups'][:-3]
    path = str(tmp_path / 'iter_1.pth')
    torch.save(checkpoint, path)
    reader = build(cfg)
    with pytest.raises(UserError, match=r'iter_1\.pth: its optimizer holds .* --load-from'):
        runner_for(reader, build_optimizer(reader, cfg.optimizer), tmp_path).resume(path)
