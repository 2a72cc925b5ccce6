"""PCPR's iteration on top of the MIC loop (docs/method/pcpr.md, 'The training step')."""
import copy

import pytest
import torch

from mmseg.apis.train import wrap_model
from mmseg.models import build_train_model
from mmseg.apis.config_checks import build_with_clear_errors
from mmseg.utils.errors import UserError

from uda_helpers import batch, build, seed_all, student_grads, tiny_cfg

PCPR_CONFIG = 'configs/pcpr/gtaHR2csHR_pcpr.py'


def assert_same_logs(logs, expected):
    for key in expected:
        torch.testing.assert_close(logs[key], expected[key], rtol=0, atol=0, equal_nan=True,
                                   msg=key)


def assert_same_student_grads(model, reference):
    grads, expected = student_grads(model), student_grads(reference)
    assert grads.keys() == expected.keys()
    for name in grads:
        assert torch.equal(grads[name], expected[name]), name


def test_pcpr_without_plf_and_fpc_computes_exactly_what_mic_computes():
    mic = build(tiny_cfg())
    pcpr = build(tiny_cfg(PCPR_CONFIG, plf=None, fpc=None))
    pcpr.load_state_dict(mic.state_dict())

    seed_all()
    mic_logs = mic.forward_train(**batch())
    seed_all()
    pcpr_logs = pcpr.forward_train(**batch())

    assert list(pcpr_logs) == list(mic_logs)
    assert_same_logs(pcpr_logs, mic_logs)
    assert_same_student_grads(pcpr, mic)


@pytest.fixture(scope='module')
def pcpr_model():
    return build(tiny_cfg(PCPR_CONFIG))


def test_pcpr_step_logs_the_filter_and_prototype_terms(pcpr_model, device):
    model = wrap_model(copy.deepcopy(pcpr_model), device)  # moves each host batch to `device`
    seed_all()
    first = model(**batch())
    # The labelled classes of the batch initialise their prototypes in the first iteration;
    # its anchors find no prototype yet, so the losses start in the second one.
    assert first['fpc.num_init_classes'] > 0 and first['src.fpc.num_anchors'] == 0
    seed_all(1)
    logs = model(**batch(seed=1))
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
    fused = model.teacher_predict(data['target_img'], data['target_img_metas']).fused
    labelled = gt[:, 0] != 255
    expected = (fused.argmax(1) == gt[:, 0])[labelled].float().mean()
    torch.testing.assert_close(logs['plf.acc_before'], expected)
    torch.testing.assert_close(logs['pl.acc'], expected)
    assert {'pl.q', 'pl.acc_confident', 'pl.conf_p25', 'pl.conf_p50'} <= set(logs)
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


def _crop_boxes_of_the_passes(model, monkeypatch):
    """Record the detail-crop box of every student pass of one iteration."""
    segmentor = model.get_model()
    boxes, sample = [], segmentor.sample_hr_crop_box

    def recording(img_h, img_w):
        boxes.append(sample(img_h, img_w))
        return boxes[-1]
    monkeypatch.setattr(segmentor, 'sample_hr_crop_box', recording)
    return boxes


def test_things_crop_policy_centres_the_source_crop_on_a_small_thing(monkeypatch):
    model = build(tiny_cfg(PCPR_CONFIG, hr_crop_policy='things', hr_crop_classes=[11]))
    inputs = batch()
    inputs['gt_semantic_seg'][:] = 0
    inputs['gt_semantic_seg'][:, :, 100:104, 110:114] = 11  # one small person, bottom right
    boxes = _crop_boxes_of_the_passes(model, monkeypatch)
    seed_all()
    model.forward_train(**inputs)
    source_box = boxes[0]
    y1, y2, x1, x2 = source_box
    assert y1 <= 100 and 104 <= y2 and x1 <= 110 and 114 <= x2
    # Nearest admissible box to the person: HRDA's largest offset for a margin of 64 with
    # crop_coord_divisible 8 is 56.
    assert source_box == (56, 120, 56, 120)


def test_entropy_crop_policy_puts_the_mixed_crop_where_the_teacher_is_least_certain(
        monkeypatch):
    from mmseg.models.utils.hr_crop_policy import max_score_box
    model = build(tiny_cfg(PCPR_CONFIG, hr_crop_policy='entropy'))
    maps = []
    segmentor = model.get_model()
    setter = segmentor.set_next_crop_score
    monkeypatch.setattr(segmentor, 'set_next_crop_score',
                        lambda policy, score: (maps.append(score), setter(policy, score)))
    boxes = _crop_boxes_of_the_passes(model, monkeypatch)
    seed_all()
    model.forward_train(**batch())
    assert len(maps) == 1  # the mixed pass only; the source pass keeps HRDA's draw
    assert boxes[1] == max_score_box(maps[0], (64, 64), segmentor.crop_coord_divisible)
    assert maps[0].shape == (128, 128) and maps[0].max() > 0


def test_unknown_crop_policy_is_one_clear_error():
    with pytest.raises(UserError, match="hr_crop_policy='center'"):
        build(tiny_cfg(PCPR_CONFIG, hr_crop_policy='center'))


def test_region_granularity_adds_one_anchor_per_class_region_to_the_contrast():
    """Region anchors join the contrast (not the memory update): with the same seed, the
    prototypes and pixel anchors are those of pixel granularity, plus the region anchors."""
    logs = {}
    for granularity in ('pixel', 'region'):
        cfg = tiny_cfg(PCPR_CONFIG)
        cfg.uda.fpc.granularity = granularity
        model = build(cfg)
        seed_all()
        model.forward_train(**batch())
        seed_all(1)
        logs[granularity] = model.forward_train(**batch(seed=1))
    pixel, region = logs['pixel'], logs['region']
    assert region['src.fpc.num_anchors'] > pixel['src.fpc.num_anchors']
    assert torch.isfinite(region['src.fpc.loss_cont']) and region['src.fpc.loss_cont'] > 0
    assert torch.equal(region['fpc.num_init_classes'], pixel['fpc.num_init_classes'])


@pytest.mark.parametrize('section, typo, hint', [
    ('plf', 'use_consistncy', 'use_consistency'),
    ('fpc', 'num_protoypes', 'num_prototypes'),
])
def test_nested_key_typo_is_one_did_you_mean_error_naming_the_dotted_key(section, typo, hint):
    cfg = tiny_cfg(PCPR_CONFIG)
    cfg.uda[section][typo] = 4
    with pytest.raises(UserError) as err:
        build_with_clear_errors(build_train_model, cfg, 'model/uda')
    message = str(err.value)
    assert message.startswith(f"unknown config key 'uda.{section}.{typo}'. "
                              f"Did you mean '{hint}'? Valid keys of uda.{section}: ")
    assert '\n' not in message


def test_several_nested_key_typos_are_named_in_one_error():
    cfg = tiny_cfg(PCPR_CONFIG)
    cfg.uda.plf.update(use_edgee=True, zzz=1)
    with pytest.raises(UserError, match=r"unknown config keys 'uda\.plf\.use_edgee' \(did you "
                                        r"mean 'use_edge'\?\), 'uda\.plf\.zzz'\. Valid keys"):
        build_with_clear_errors(build_train_model, cfg, 'model/uda')


def test_a_typo_in_uda_fpc_is_one_error_naming_the_key_and_every_valid_key():
    cfg = tiny_cfg(PCPR_CONFIG)
    cfg.uda.fpc.update(num_protoypes=3)
    valid = ('proj_dim, proto_scale, label_min_ratio, reliable_weight, max_samples, max_views, '
             'min_views, num_prototypes, sinkhorn_iters, sinkhorn_epsilon, proto_momentum, '
             'temperature, lambda_cont, lambda_cons, proto_start_iter, proto_rampup_iters, '
             'granularity, region_min_area, max_regions')
    with pytest.raises(UserError) as err:
        build_with_clear_errors(build_train_model, cfg, 'model/uda')
    assert str(err.value) == ("unknown config key 'uda.fpc.num_protoypes'. Did you mean "
                              f"'num_prototypes'? Valid keys of uda.fpc: {valid}")


def test_unknown_granularity_is_one_clear_error():
    with pytest.raises(UserError, match="granularity must be 'pixel' or 'region'"):
        build(tiny_cfg(PCPR_CONFIG, fpc=dict(granularity='segment')))


def test_prototype_agreement_filters_only_once_prototypes_exist():
    cfg = tiny_cfg(PCPR_CONFIG, plf=dict(proto_agreement='hard', renormalize=True))
    model = build(cfg)
    seed_all()
    first = model.forward_train(**batch())
    assert first['plf.m_proto'] == 1.0  # no class has prototypes before the first update
    seed_all(1)
    second = model.forward_train(**batch(seed=1))
    assert 0.0 < second['plf.m_proto'] < 1.0
    assert torch.isfinite(second['mix.decode.loss_seg'])


def test_prototype_agreement_without_fpc_is_one_clear_error():
    with pytest.raises(UserError, match='proto_agreement .*fpc'):
        build(tiny_cfg(PCPR_CONFIG, plf=dict(proto_agreement='soft'), fpc=None))


@pytest.mark.parametrize('parts', [dict(plf=None), dict()], ids=['fpc_only', 'plf_and_fpc'])
def test_pcpr_leaves_the_global_random_stream_to_mic(parts):
    """Same seed -> the same initial weights and the same global draws (masks, jitter, drop
    path) as MIC: PCPR's own draws use their own generators, so paired runs differ only by
    the method."""
    mic = build(tiny_cfg())
    after_mic_init = torch.get_rng_state()
    pcpr = build(tiny_cfg(PCPR_CONFIG, **parts))
    assert torch.equal(torch.get_rng_state(), after_mic_init)
    pcpr_state = pcpr.get_model().state_dict()
    for name, value in mic.get_model().state_dict().items():
        assert torch.equal(pcpr_state[name], value), name

    states = []
    for model in (mic, pcpr):
        seed_all()
        model.forward_train(**batch())  # PCPR's first step initialises the prototypes
        model.forward_train(**batch(seed=1))  # its second computes the prototype losses
        states.append(torch.get_rng_state())
    assert torch.equal(states[0], states[1])


def test_anchor_draws_depend_on_seed_iteration_and_rank_only():
    from mmseg.models.uda.prototypes import ANCHOR_STREAM, own_seed
    torch.manual_seed(3)
    first = own_seed(ANCHOR_STREAM, 5, 0)
    torch.rand(10)  # the global stream moving on does not change it
    assert own_seed(ANCHOR_STREAM, 5, 0) == first
    assert len({first, own_seed(ANCHOR_STREAM, 6, 0), own_seed(ANCHOR_STREAM, 5, 1)}) == 3
    torch.manual_seed(4)
    assert own_seed(ANCHOR_STREAM, 5, 0) != first
    assert 0 <= first < 2 ** 63


def test_filter_with_both_terms_off_trains_exactly_as_no_filter():
    """PLF with use_consistency=False and use_edge=False weights pseudo-labels by MIC's q alone:
    the same losses and gradients as plf=None, plus the filter's statistics in the log."""
    no_filter = build(tiny_cfg(PCPR_CONFIG, plf=None))
    terms_off = build(tiny_cfg(PCPR_CONFIG, plf=dict(use_consistency=False, use_edge=False)))
    terms_off.load_state_dict(no_filter.state_dict())
    for seed in (0, 1):  # the second iteration has prototype losses
        seed_all(seed)
        expected = no_filter.forward_train(**batch(seed=seed))
        seed_all(seed)
        logs = terms_off.forward_train(**batch(seed=seed))
        assert set(logs) - set(expected) == {'plf.q', 'plf.kept', 'plf.m_cons', 'plf.m_edge'}
        assert_same_logs(logs, expected)
    assert_same_student_grads(terms_off, no_filter)


def test_filter_on_anchors_only_changes_the_anchors_and_never_the_loss_weights(monkeypatch):
    """apply_to='anchors': the spec's filter picks FPC's target anchors, while every loss weight
    stays MIC's: the segmentation losses equal those of PCPR without the filter's terms."""
    spec = dict(use_consistency=True, use_edge=True, drop_below=0.5)
    # A threshold every pixel passes (q = 1): MIC's weights are non-zero, so a filter weight
    # reaching the loss would change it.
    anchors = build(tiny_cfg(PCPR_CONFIG, plf=dict(spec, apply_to='anchors'),
                             pseudo_threshold=0.0))
    terms_off = build(tiny_cfg(PCPR_CONFIG, plf=dict(use_consistency=False, use_edge=False),
                               pseudo_threshold=0.0))
    anchors.load_state_dict(terms_off.state_dict())
    reliabilities = []
    reliable_labels = anchors.fpc.reliable_labels

    def spy(label, reliability, *args):
        reliabilities.append(reliability)
        return reliable_labels(label, reliability, *args)
    monkeypatch.setattr(anchors.fpc, 'reliable_labels', spy)
    for seed in (0, 1):  # the second iteration has prototype losses
        seed_all(seed)
        expected = terms_off.forward_train(**batch(seed=seed))
        seed_all(seed)
        logs = anchors.forward_train(**batch(seed=seed))
        seg_losses = [k for k in expected if 'loss_seg' in k or k.startswith('masked.')]
        assert seg_losses
        assert_same_logs(logs, {k: expected[k] for k in seg_losses})
    assert logs['plf.kept'] < 1  # the filter did judge pixels ...
    assert min(r.min() for r in reliabilities) < 1  # ... and its maps reached the anchors


def test_the_batch_offline_pseudo_labels_reach_the_filter():
    """`pl` (dataset `pl_dir`) passes DACS's loop untouched and weights PCPR's pseudo-labels."""
    model = build(tiny_cfg(PCPR_CONFIG, plf=dict(use_offline_pl=True), fpc=None,
                           pseudo_threshold=0.0))  # every pixel confident: q = 1
    data = batch()
    with pytest.raises(UserError, match='use_offline_pl=True needs offline pseudo-labels'):
        copy.deepcopy(model).forward_train(**data)
    kept = {}
    for name, value in (('no opinion', 255), ('class 0', 0)):
        seed_all()
        logs = copy.deepcopy(model).forward_train(
            **data, pl=torch.full_like(data['gt_semantic_seg'], value))
        kept[name] = logs['plf.kept']
    assert kept['no opinion'] > kept['class 0']
