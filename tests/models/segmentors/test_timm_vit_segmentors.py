"""Segmentors with a TimmViT backbone: HRDA training and slide inference keep MIC's geometry."""
import math

import pytest
import torch

from mmseg.models.builder import build_segmentor

from models_helpers import TINY_VIT_DIM, encoder_decoder, hrda, metas, tiny_timm_vit

VIT_CHANNELS = [TINY_VIT_DIM] * 4


@pytest.mark.parametrize('family', ['dinov2', 'dinov3'])
def test_hrda_with_a_vit_trains_with_finite_losses_reaching_every_parameter(family):
    model = build_segmentor(hrda(tiny_timm_vit(family), VIT_CHANNELS))
    model.init_weights()
    losses = model.forward_train(torch.randn(2, 3, 128, 128), metas(2, 128),
                                 torch.randint(0, 19, (2, 1, 128, 128)))
    loss, log_vars = model._parse_losses(losses)
    assert all(math.isfinite(value) for value in log_vars.values())
    loss.backward()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []


def locate(image, crop):
    """(y, x) of the one place where `crop` (C, h, w) lies in `image` (C, H, W)."""
    h, w = crop.shape[-2:]
    found = [(y, x) for y in range(image.shape[1] - h + 1) for x in range(image.shape[2] - w + 1)
             if torch.equal(image[:, y:y + h, x:x + w], crop)]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize('batched_slide', [False, True])
def test_slide_inference_features_cover_every_pixel_once_per_window(batched_slide):
    """64 x 112 image, 64 px windows at stride 48: windows x in [0, 64) and [48, 112), so
    columns 48..63 are covered twice, all others once; the ViT (p = 14) sees each window
    resized, but its stride-4 map covers exactly its window."""
    cfg = encoder_decoder(tiny_timm_vit(), VIT_CHANNELS, test_cfg=dict(
        mode='slide', crop_size=(64, 64), stride=(48, 48), batched_slide=batched_slide))
    model = build_segmentor(cfg).eval()
    image = torch.randn(1, 3, 64, 112)
    count = torch.zeros(64, 112)

    def count_cells(module, args, outs):
        for crop, feat in zip(args[0], outs[0]):
            y, x = locate(image[0], crop)
            cells = torch.ones(feat.shape[-2:]).repeat_interleave(4, 0).repeat_interleave(4, 1)
            count[y:y + cells.shape[0], x:x + cells.shape[1]] += cells

    model.backbone.register_forward_hook(count_cells)
    with torch.no_grad():
        model.inference(image, [dict(m, ori_shape=(64, 112, 3)) for m in metas(1, 0)],
                        rescale=True)
    expected = torch.ones(64, 112)
    expected[:, 48:64] = 2
    assert torch.equal(count, expected)


def test_hrda_slide_inference_with_a_vit_gives_probabilities_at_the_image_size():
    cfg = hrda(tiny_timm_vit('eva02'), VIT_CHANNELS,
               test_cfg=dict(mode='slide', crop_size=(128, 128), stride=(64, 64)))
    model = build_segmentor(cfg).eval()
    with torch.no_grad():
        probs = model.inference(torch.randn(1, 3, 128, 200),
                                [dict(m, ori_shape=(128, 200, 3)) for m in metas(1, 0)],
                                rescale=True)
    assert probs.shape == (1, 19, 128, 200)
    torch.testing.assert_close(probs.sum(1), torch.ones(1, 128, 200))
