"""MIC(HRDA) and PCPR iterations with a TimmViT backbone: the UDA step does not depend on MiT."""
import math

import pytest
import torch

from mmseg.models.backbones.timm_vit import TimmViT

from models_helpers import TINY_VIT_DIM, tiny_timm_vit
from uda_helpers import batch, build, seed_all, tiny_cfg

PCPR_CONFIG = 'configs/pcpr/gtaHR2csHR_pcpr.py'
# A tiny DINOv2 (p = 14, resized crops) with the simple pyramid, a tiny DINOv3 (p = 16) with the
# ViT-Adapter (4 blocks: one per interaction).
PYRAMIDS = {
    'dinov2': dict(type='SimpleFeaturePyramid'),
    'dinov3': dict(type='ViTAdapter', conv_inplane=16, deform_num_heads=2, n_points=2,
                   norm_cfg=dict(type='GN', num_groups=8, requires_grad=True)),
}


def vit_cfg(family, config='configs/mic/gtaHR2csHR_mic_hrda.py', pretrained=None, **uda):
    """The tiny MIC(HRDA)/PCPR config with a tiny TimmViT of `family` instead of MiT-B0."""
    cfg = tiny_cfg(config, **uda)
    cfg.model.backbone = tiny_timm_vit(family, pyramid=PYRAMIDS[family])
    cfg.model.decode_head.in_channels = [TINY_VIT_DIM] * 4
    cfg.model.pretrained = pretrained
    return cfg


def train_step(model, data, lr=0.01):
    optimizer = torch.optim.SGD(model.get_model().parameters(), lr=lr)
    return model.train_step(data, optimizer)['log_vars']


def params(module):
    return [p.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize('family', ['dinov2', 'dinov3'])
def test_mic_iterations_train_the_student_and_the_teacher_follows_its_ema(family):
    model = build(vit_cfg(family))
    assert model.fdist_lambda > 0 and model.enable_masking
    seed_all()
    first = train_step(model, batch())
    student_0 = params(model.get_model())  # after the first optimizer step
    teacher_0 = params(model.get_ema_model())  # the student before that step
    seed_all(1)
    second = train_step(model, batch(seed=1))

    for logs in (first, second):
        assert all(math.isfinite(v) for v in logs.values()), logs
        assert {'src.loss_imnet_feat_dist', 'mix.decode.loss_seg',
                'masked.decode.loss_seg'} <= set(logs)
    # Each part of the student moves. Not every tensor: the adapter's injectors get no
    # gradient while their gates are 0 (their init), and a few LayerNorm scales behind DINOv2's
    # 1e-5 layer scale get gradients too small to change them in one step.
    student_1 = params(model.get_model())
    for part in ('backbone.vit.', 'backbone.pyramid.', 'decode_head.'):
        assert any(not torch.equal(a, b) for (name, _), a, b in zip(
            model.get_model().named_parameters(), student_0, student_1)
            if name.startswith(part)), part
    # Iteration 1 averages with alpha_t = min(1 - 1 / 2, 0.999) = 0.5.
    for ema, old, new in zip(model.get_ema_model().parameters(), teacher_0, student_0):
        torch.testing.assert_close(ema, 0.5 * old + 0.5 * new)


@pytest.mark.parametrize('family', ['dinov2', 'dinov3'])
def test_pcpr_prototype_losses_act_from_the_second_iteration_with_a_vit(family):
    model = build(vit_cfg(family, PCPR_CONFIG))
    seed_all()
    first = train_step(model, batch())
    assert first['fpc.num_init_classes'] > 0 and first['src.fpc.num_anchors'] == 0
    seed_all(1)
    second = train_step(model, batch(seed=1))
    assert all(math.isfinite(v) for v in second.values()), second
    assert second['src.fpc.num_anchors'] > 0 and second['src.fpc.loss_cont'] > 0
    assert 'mix.fpc.loss_cont' in second and 'plf.kept' in second


def save_random_vit_weights(family, path):
    """A random state dict of the tiny ViT of `family` in timm's layout, saved to `path`."""
    vit = build(vit_cfg(family)).get_model().backbone.vit
    weights = {k: torch.randn_like(v) for k, v in vit.state_dict().items()}
    torch.save(weights, path)
    return str(path), weights


def test_frozen_imagenet_model_is_the_same_vit_loaded_from_the_same_weights(tmp_path):
    path, weights = save_random_vit_weights('dinov2', tmp_path / 'vit.pth')
    model = build(vit_cfg('dinov2', pretrained=path))
    student, imnet = model.get_model().backbone, model.get_imnet_model().backbone
    assert isinstance(imnet, TimmViT) and imnet.pretrained == path
    assert imnet.model_name == student.model_name and imnet.out_indices == student.out_indices
    for module in (student, imnet):
        for key, value in weights.items():
            assert torch.equal(module.vit.state_dict()[key], value), key
    assert not any(p.requires_grad for p in model.get_imnet_model().parameters())


@pytest.mark.parametrize('family', ['dinov2', 'dinov3'])
def test_frozen_imagenet_model_starts_with_the_student_s_pyramid(family):
    """The pyramid is not in the ViT's weights; the frozen model takes the student's initial
    one instead of a second random initialisation."""
    model = build(vit_cfg(family))
    student = model.get_model().backbone.pyramid.state_dict()
    frozen = model.get_imnet_model().backbone.pyramid.state_dict()
    assert student.keys() == frozen.keys()
    for key, value in frozen.items():
        assert torch.equal(value, student[key]), key


@pytest.mark.parametrize('family', ['dinov2', 'dinov3'])
def test_feature_distance_reads_the_last_pyramid_map_and_is_0_before_the_first_step(
        family, tmp_path):
    """MIC's distance compares the backbone's last map: stride 32 (the ViT's stride-16 map
    max-pooled, or the adapter's coarsest level). Student and frozen model start from the same
    ViT weights and pyramid, so (as with a pretrained MiT) it is 0 before any step."""
    path, _ = save_random_vit_weights(family, tmp_path / 'vit.pth')
    model = build(vit_cfg(family, pretrained=path))
    seen = []
    model.get_imnet_model().backbone.register_forward_hook(lambda m, i, outs: seen.append(outs))
    seed_all()
    logs = model.forward_train(**batch())
    # HRDA's feature scale 0.5: the 128 px source image at 64 px, its stride-32 map 2 x 2
    assert len(seen) == 1 and tuple(seen[0][-1].shape[-2:]) == (2, 2)
    assert logs['src.loss_imnet_feat_dist'] == 0


def test_feature_distance_back_propagates_into_the_vit():
    model = build(vit_cfg('dinov2'))
    for p in model.get_imnet_model().parameters():
        p.data.add_(0.1 * torch.randn_like(p))  # a frozen model that differs from the student
    data = batch()
    losses = model.student_forward(data['img'], data['img_metas'], data['gt_semantic_seg'],
                                   return_feat=True)
    loss, _ = model.calc_feat_dist(data['img'], data['gt_semantic_seg'], losses['features'])
    assert loss.item() > 0
    loss.backward()
    grad = model.get_model().backbone.vit.blocks[-1].mlp.fc2.weight.grad
    assert grad is not None and grad.abs().sum() > 0
