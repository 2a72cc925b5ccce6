"""PCPR's iteration on top of the MIC loop (pcpr-method.md, 'The training step')."""
import copy

import pytest
import torch
from uda_helpers import batch, build, seed_all, student_grads, tiny_cfg

PCPR_CONFIG = 'configs/pcpr/gtaHR2csHR_pcpr.py'


def test_pcpr_without_plf_and_fpc_computes_exactly_what_mic_computes():
    mic = build(tiny_cfg())
    pcpr = build(tiny_cfg(PCPR_CONFIG, plf=None, fpc=None))
    pcpr.load_state_dict(mic.state_dict())

    seed_all()
    mic_logs = mic.forward_train(**batch())
    seed_all()
    pcpr_logs = pcpr.forward_train(**batch())

    assert list(pcpr_logs) == list(mic_logs)
    for key in mic_logs:
        torch.testing.assert_close(pcpr_logs[key], mic_logs[key], rtol=0, atol=0,
                                   equal_nan=True, msg=key)
    mic_grads, pcpr_grads = student_grads(mic), student_grads(pcpr)
    assert mic_grads.keys() == pcpr_grads.keys()
    for name in mic_grads:
        assert torch.equal(pcpr_grads[name], mic_grads[name]), name


@pytest.fixture(scope='module')
def pcpr_model():
    return build(tiny_cfg(PCPR_CONFIG))


def test_pcpr_step_logs_the_filter_and_prototype_terms(pcpr_model):
    model = copy.deepcopy(pcpr_model)
    seed_all()
    first = model.forward_train(**batch())
    # The labelled classes of the batch initialise their prototypes in the first iteration;
    # its anchors find no prototype yet, so the losses start in the second one.
    assert first['fpc.num_init_classes'] > 0 and first['src.fpc.num_anchors'] == 0
    seed_all(1)
    logs = model.forward_train(**batch(seed=1))
    for key in ('plf.q', 'plf.kept', 'plf.m_cons', 'plf.m_edge', 'src.fpc.loss_cont',
                'src.fpc.loss_cons', 'mix.fpc.loss_cont', 'src.fpc.num_anchors',
                'fpc.num_init_classes'):
        assert key in logs, key
    assert logs['src.fpc.num_anchors'] > 0 and logs['src.fpc.loss_cont'] > 0


def test_prototype_losses_reach_the_projection_head(pcpr_model):
    model = copy.deepcopy(pcpr_model)
    seed_all()
    model.forward_train(**batch())  # initialises the prototypes
    model.get_model().zero_grad()
    seed_all(1)
    model.forward_train(**batch(seed=1))
    grads = [p.grad for p in model.get_model().proj_head.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_pcpr_logs_pseudo_label_accuracy_when_target_labels_are_given(pcpr_model):
    model = copy.deepcopy(pcpr_model)
    data = batch()
    gt = data['gt_semantic_seg'].clone()
    gt[:, :, :8] = 255  # ignored rows do not count
    data['target_gt_semantic_seg'] = gt
    seed_all()
    logs = model.forward_train(**data)
    # The teacher (BN on batch statistics, no dropout) gives the same logits again.
    fused = model.teacher_predict(data['target_img'], data['target_img_metas'])['fused']
    labelled = gt[:, 0] != 255
    expected = (fused.argmax(1) == gt[:, 0])[labelled].float().mean()
    torch.testing.assert_close(logs['plf.acc_before'], expected)
    assert 'plf.acc_before' not in copy.deepcopy(pcpr_model).forward_train(**batch())


def test_prototypes_and_projection_head_are_in_the_checkpoint_state(pcpr_model):
    model = copy.deepcopy(pcpr_model)
    seed_all()
    model.forward_train(**batch())
    state = model.state_dict()
    assert {'proto_memory.prototypes', 'proto_memory.initialized'} <= set(state)
    assert any(k.startswith('model.proj_head.') for k in state)
    assert any(k.startswith('ema_model.proj_head.') for k in state)
    restored = build(tiny_cfg(PCPR_CONFIG), seed=1)
    restored.load_state_dict(state)
    assert torch.equal(restored.proto_memory.prototypes, model.proto_memory.prototypes)
    assert torch.equal(restored.proto_memory.initialized, model.proto_memory.initialized)


@pytest.mark.parametrize('proto_scale', ['hr', 'both'])
def test_prototypes_can_use_the_detail_scale(proto_scale):
    cfg = tiny_cfg(PCPR_CONFIG)
    cfg.uda.fpc.proto_scale = proto_scale
    model = build(cfg)
    for it in range(2):
        seed_all(it)
        logs = model.forward_train(**batch(seed=it))
    assert logs['src.fpc.num_anchors'] > 0


def test_masked_pass_gets_unfiltered_weights_when_plf_on_masked_is_off(monkeypatch):
    cfg = tiny_cfg(PCPR_CONFIG)
    cfg.uda.plf.plf_on_masked = False
    model = build(cfg)
    seen = {}
    original = model.mic.forward

    def spy(*args):
        seen['weight'] = args[-1]
        return original(*args)
    monkeypatch.setattr(model.mic, 'forward', spy)
    seed_all()
    model.forward_train(**batch())
    # Without the filter the weight is MIC's: one confidence-quality value everywhere.
    assert seen['weight'].unique().numel() == 1
