"""The MIC(HRDA) iteration of DACS: its passes, their order, and the accumulated gradient."""
import copy

import pytest
import torch
from uda_helpers import batch, build, seed_all, student_grads, tiny_cfg

from mmseg.models import build_train_model
from mmseg.utils.config_checks import build_with_clear_errors
from mmseg.utils.errors import UserError

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


def test_train_step_steps_the_optimizer_and_returns_float_logs(mic_model):
    model = copy.deepcopy(mic_model)
    before = [p.detach().clone() for p in model.get_model().parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    seed_all()
    out = model.train_step(batch(), optimizer)
    assert out['num_samples'] == 2
    assert all(isinstance(v, float) for v in out['log_vars'].values())
    assert 'loss' not in out['log_vars']
    changed = [not torch.equal(b, p) for b, p in zip(before, model.get_model().parameters())]
    assert sum(changed) > 0.9 * len(changed)


@pytest.mark.parametrize('key, hint', [('alpah', 'alpha'), ('pseudo_treshold',
                                                             'pseudo_threshold')])
def test_unknown_uda_key_is_one_clear_error_naming_it(key, hint):
    cfg = tiny_cfg()
    cfg.uda[key] = 0.5
    with pytest.raises(UserError, match=rf"unknown config key '{key}' for DACS.*'{hint}'"):
        build_with_clear_errors(build_train_model, cfg, 'uda')


def test_unknown_model_key_is_one_clear_error_naming_it():
    cfg = tiny_cfg()
    cfg.model.hr_crop_sise = (64, 64)
    with pytest.raises(UserError, match=r"unknown config key 'hr_crop_sise'.*'hr_crop_size'"):
        build_with_clear_errors(build_train_model, cfg, 'model')
