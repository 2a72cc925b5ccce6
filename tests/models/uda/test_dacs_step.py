"""The MIC(HRDA) iteration of DACS: its passes, their order, and the accumulated gradient."""
import copy

import pytest
import torch

from mmseg.apis.train import wrap_model
from mmseg.models import build_train_model
from mmseg.apis.config_checks import build_with_clear_errors
from mmseg.utils.errors import UserError

from uda_helpers import batch, build, seed_all, student_grads, tiny_cfg

MIC_LOSS_ORDER = [
    'decode.loss_seg', 'decode.acc_seg', 'decode.hr.loss_seg', 'decode.hr.acc_seg',
    'src.loss_imnet_feat_dist',
    'mix.decode.loss_seg', 'mix.decode.acc_seg', 'mix.decode.hr.loss_seg',
    'mix.decode.hr.acc_seg',
    'masked.decode.loss_seg', 'masked.decode.acc_seg', 'masked.decode.hr.loss_seg',
    'masked.decode.hr.acc_seg',
]


@pytest.fixture(scope='module')
def mic_model():
    return build(tiny_cfg())


def test_step_runs_source_fdist_mix_and_masked_passes_in_mic_order(mic_model):
    model = copy.deepcopy(mic_model)
    seed_all()
    log_vars = model.forward_train(**batch())
    assert [k for k in log_vars if k != 'loss'] == MIC_LOSS_ORDER
    assert torch.isfinite(log_vars['src.loss_imnet_feat_dist'])
    assert model.local_iter == 1


def test_split_backward_gives_the_gradient_of_the_summed_loss(mic_model, monkeypatch):
    split = copy.deepcopy(mic_model)
    seed_all()
    split.forward_train(**batch())
    expected = student_grads(split)

    summed = copy.deepcopy(mic_model)
    collected = []
    monkeypatch.setattr(summed, 'backward', lambda loss, retain_graph=False:
                        collected.append(loss))
    seed_all()
    summed.forward_train(**batch())
    # source, feature distance, mixed, masked: MIC's four backward calls
    assert len(collected) == 4
    torch.stack(collected).sum().backward()
    actual = student_grads(summed)

    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-4, atol=1e-7,
                                   msg=name)


def test_teacher_is_a_copy_of_the_student_after_the_first_iteration(mic_model):
    model = copy.deepcopy(mic_model)
    for p in model.get_ema_model().parameters():
        p.data.add_(1.0)
    seed_all()
    model.forward_train(**batch())
    # The EMA copy happens at the start of iteration 0, before the optimizer step.
    for p_ema, p in zip(model.get_ema_model().parameters(), model.get_model().parameters()):
        assert torch.equal(p_ema, p.detach())


def test_source_only_trains_the_source_pass_alone():
    model = build(tiny_cfg(source_only=True, mask_mode=None, mask_generator=None,
                           imnet_feature_dist_lambda=0))
    assert not hasattr(model, 'ema_model') and model.mic is None
    seed_all()
    log_vars = model.forward_train(**batch())
    assert [k for k in log_vars if k != 'loss'] == MIC_LOSS_ORDER[:4]


def test_train_step_steps_the_optimizer_and_returns_float_logs(mic_model, device):
    """Through the runner's device wrapper, which moves the host batch to `device`."""
    model = wrap_model(copy.deepcopy(mic_model), device)
    before = [p.detach().clone() for p in model.module.get_model().parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    seed_all()
    out = model.train_step(batch(), optimizer)
    assert out['num_samples'] == 2
    assert all(isinstance(v, float) for v in out['log_vars'].values())
    assert 'loss' not in out['log_vars']
    after = model.module.get_model().parameters()
    changed = [not torch.equal(b, p) for b, p in zip(before, after)]
    assert sum(changed) > 0.9 * len(changed)


@pytest.mark.parametrize('key, hint', [('alpah', 'alpha'), ('pseudo_treshold',
                                                             'pseudo_threshold')])
def test_unknown_uda_key_is_one_clear_error_naming_it(key, hint):
    cfg = tiny_cfg()
    cfg.uda[key] = 0.5
    with pytest.raises(UserError, match=rf"unknown config key '{key}' for DACS.*'{hint}'"):
        build_with_clear_errors(build_train_model, cfg, 'uda')


def test_unknown_mask_generator_key_is_one_did_you_mean_error():
    cfg = tiny_cfg()
    cfg.uda.mask_generator['mask_blok_size'] = 16
    with pytest.raises(UserError, match=r"^unknown config key 'uda\.mask_generator\."
                                        r"mask_blok_size'\. Did you mean 'mask_block_size'\?"):
        build_with_clear_errors(build_train_model, cfg, 'model/uda')


def test_unknown_model_key_is_one_clear_error_naming_it():
    cfg = tiny_cfg()
    cfg.model.hr_crop_sise = (64, 64)
    with pytest.raises(UserError, match=r"unknown config key 'hr_crop_sise'.*'hr_crop_size'"):
        build_with_clear_errors(build_train_model, cfg, 'model')


@pytest.mark.parametrize('overrides, alpha, threshold', [
    (dict(mask_alpha=0), 0, 0.1),  # MIC Table 7: without EMA teacher
    (dict(mask_pseudo_threshold=None), 0.999, None),  # without the confidence weight
])
def test_masking_teacher_takes_the_uda_value_where_the_other_key_is_same(overrides, alpha,
                                                                         threshold):
    model = build(tiny_cfg(**overrides))
    assert model.mic.teacher is not None
    assert model.mic.teacher.alpha == alpha
    assert model.mic.teacher.pseudo_threshold == threshold


def test_masking_teacher_without_confidence_weight_gives_weight_one():
    model = build(tiny_cfg(mask_pseudo_threshold=None))
    seed_all()
    model.forward_train(**batch())
    weight = model.mic.debug_output['pseudo_weight']
    assert torch.equal(weight, torch.ones_like(weight))


def test_source_only_with_masking_trains_the_masked_source_pass_as_mic():
    """MIC's "supervised training with masking": source_only keeps the masked pass, on the
    (colour-augmented, block-masked) source images with their labels and no pixel weight."""
    model = build(tiny_cfg(source_only=True, mask_mode='separatesrc',
                           imnet_feature_dist_lambda=0))
    assert not hasattr(model, 'ema_model') and model.mic is not None
    seed_all()
    inputs = batch()
    log_vars = model.forward_train(**inputs)
    assert [k for k in log_vars if k != 'loss'] == MIC_LOSS_ORDER[:4] + MIC_LOSS_ORDER[-4:]
    assert torch.equal(model.mic.debug_output['masked_lbl'], inputs['gt_semantic_seg'])
    assert model.mic.debug_output['masked_seg_weight'] is None


def test_feature_distance_over_all_scales_sums_both_scales_with_the_label_cropped():
    """HRDA feature_scale='all' (MIC, when the detail crop covers the whole crop): the distance
    of each scale's last stage to the ImageNet model's, the HR one on the source detail crop."""
    from mmseg.models.utils.crop_box import crop
    from mmseg.models.utils.feature_distance import feature_distance_mask
    from mmseg.ops import resize

    cfg = tiny_cfg()
    cfg.model.feature_scale = 'all'
    model = build(cfg)
    with torch.no_grad():
        for p in model.get_imnet_model().parameters():
            p.add_(0.01 * torch.randn_like(p))  # the student and the ImageNet copy differ
    inputs = batch()
    # Car below a sky strip: every detail crop holds pure car cells, the LR top cells are mixed.
    inputs['gt_semantic_seg'][:] = 13
    inputs['gt_semantic_seg'][:, :, :32] = 10
    seed_all()
    losses, feat = model.source_pass(inputs['img'], inputs['img_metas'],
                                     inputs['gt_semantic_seg'])
    assert len(feat) == 2
    box = model.get_model().last_train_crop_box
    loss, _ = model.calc_feat_dist(inputs['img'], inputs['gt_semantic_seg'], feat)

    imnet, gt = model.get_imnet_model(), inputs['gt_semantic_seg']
    with torch.no_grad():
        lr_img = resize(inputs['img'], scale_factor=0.5, mode='bilinear', align_corners=False)
        frozen = [imnet.extract_unscaled_feat(lr_img)[-1],
                  imnet.extract_unscaled_feat(crop(inputs['img'], box))[-1]]
    expected = 0
    for student, ref, label in zip((feat[0][-1], feat[1][-1]), frozen, (gt, crop(gt, box))):
        mask = feature_distance_mask(label, student.shape[-2:], model.fdist_classes, 0.75, 19)
        expected = expected + (student - ref).norm(dim=1)[mask[:, 0]].mean()
    torch.testing.assert_close(loss, model.fdist_lambda * expected)
    assert torch.isfinite(loss)


def test_building_leaves_the_config_as_written():
    cfg = tiny_cfg()
    cfg.mixed_precision = 'bf16'
    before = copy.deepcopy(cfg._cfg_dict.to_dict())
    model = build_train_model(cfg)
    assert model.mixed_precision == 'bf16' and model.max_iters == cfg.runner.max_iters
    assert cfg._cfg_dict.to_dict() == before


def test_mixed_precision_inside_uda_is_one_clear_error():
    cfg = tiny_cfg(mixed_precision='bf16')
    with pytest.raises(UserError, match="top-level `mixed_precision"):
        build_train_model(cfg)
