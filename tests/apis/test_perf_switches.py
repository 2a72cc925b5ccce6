"""Performance switches (`configure_performance`, fused AdamW): off by default, same outputs."""
import copy

import pytest
import torch
from mmcv.runner import build_optimizer
from mmcv.utils import Config

from mmseg.apis.performance import configure_performance, segmentors_of

from uda_helpers import build_tiny_uda


def _student_and_copy():
    model = build_tiny_uda()
    model.eval()
    return model, copy.deepcopy(model)


def test_switches_are_off_by_default():
    model, reference = _student_and_copy()
    configure_performance(model, Config(dict()))
    for (name, param), (_, ref) in zip(model.named_parameters(), reference.named_parameters()):
        assert param.stride() == ref.stride(), name


def test_channels_last_applies_to_student_teacher_and_imnet_convolutions():
    model = build_tiny_uda()
    configure_performance(model, Config(dict(channels_last=True)))
    assert len(segmentors_of(model)) == 3
    for segmentor in segmentors_of(model):
        weight = segmentor.backbone.patch_embed1.proj.weight
        assert weight.is_contiguous(memory_format=torch.channels_last)


def test_channels_last_outputs_match_the_default_layout():
    model, reference = _student_and_copy()
    configure_performance(model, Config(dict(channels_last=True)))
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = model.get_model().encode_decode(img, None)
        expected = reference.get_model().encode_decode(img, None)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_fused_adamw_passes_through_mmcv_and_steps_like_the_default():
    model = build_tiny_uda().get_model()
    fused_model = copy.deepcopy(model)
    cfg = dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01,
               paramwise_cfg=dict(custom_keys=dict(head=dict(lr_mult=10.0),
                                                   norm=dict(decay_mult=0.0))))
    optimizer = build_optimizer(model, cfg)
    fused = build_optimizer(fused_model, dict(cfg, fused=True))
    assert fused.defaults['fused'] is True and not optimizer.defaults.get('fused')
    for net in (model, fused_model):
        for param in net.parameters():
            param.grad = torch.full_like(param, 0.5)
    optimizer.step()
    fused.step()
    for param, fused_param in zip(model.parameters(), fused_model.parameters()):
        torch.testing.assert_close(fused_param, param, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_compiled_backbone_matches_eager_and_keeps_state_dict_keys():
    model, reference = _student_and_copy()
    configure_performance(model, Config(dict(compile_backbone=True)))
    assert model.state_dict().keys() == reference.state_dict().keys()
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = model.get_model().backbone(img)
        expected = reference.get_model().backbone(img)
    for feat, ref in zip(feats, expected):
        torch.testing.assert_close(feat, ref, rtol=1e-4, atol=1e-4)
