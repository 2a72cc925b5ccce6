"""SimpleFeaturePyramid: four stride-p maps -> strides p/4, p/2, p, 2p, optional projection."""
import torch

from mmseg.models.builder import build_neck


def build(**kwargs):
    return build_neck(dict(type='SimpleFeaturePyramid', embed_dim=8, patch_size=14, **kwargs))


def test_levels_are_4x_2x_1x_and_half_the_input_size():
    outs = build().eval()([torch.randn(2, 8, 5, 7) for _ in range(4)])
    assert [tuple(out.shape) for out in outs] == [(2, 8, 20, 28), (2, 8, 10, 14), (2, 8, 5, 7),
                                                  (2, 8, 2, 3)]


def test_strides_follow_the_patch_size():
    assert build().strides == [3.5, 7, 14, 28]


def test_without_out_channels_level_2_is_the_input_and_level_3_its_2x2_max():
    feats = [torch.randn(1, 8, 4, 4) for _ in range(4)]
    feats[3] = torch.arange(16.).reshape(1, 1, 4, 4).expand(1, 8, 4, 4)
    outs = build().eval()(feats)
    assert build().out_channels == [8] * 4
    assert torch.equal(outs[2], feats[2])
    assert torch.equal(outs[3][0, 0], torch.tensor([[5., 7.], [13., 15.]]))


def test_out_channels_project_every_level():
    assert build(out_channels=16).out_channels == [16] * 4
    neck = build(out_channels=[4, 8, 12, 16]).eval()
    outs = neck([torch.randn(1, 8, 4, 4) for _ in range(4)])
    assert [out.shape[1] for out in outs] == [4, 8, 12, 16]
