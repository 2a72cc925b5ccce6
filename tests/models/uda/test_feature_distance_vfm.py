"""MIC's ImageNet feature distance with a ViT backbone whose feature pyramid is not pretrained.

The stand-in backbone has TimmViT's layout: a `vit` part loaded from `pretrained` in
`init_weights`, and a randomly initialised `pyramid` that turns the stride-16 ViT map into 4
maps at strides 4/8/16/32 with 24 channels (not MiT's 64/128/320/512).
"""
import pytest
import torch
from torch import nn

from mmseg.models.builder import BACKBONES

from uda_helpers import batch, build, seed_all, tiny_cfg

CHANNELS = 24


@BACKBONES.register_module(force=True)
class StandInPyramidViT(nn.Module):
    def __init__(self, pretrained=None):
        super().__init__()
        self.pretrained = pretrained
        self.vit = nn.Module()
        self.vit.patch_embed = nn.Conv2d(3, CHANNELS, 16, 16)
        self.vit.blocks = nn.ModuleList(nn.Conv2d(CHANNELS, CHANNELS, 1) for _ in range(2))
        self.pyramid = nn.ModuleList([nn.ConvTranspose2d(CHANNELS, CHANNELS, 4, 4),
                                      nn.ConvTranspose2d(CHANNELS, CHANNELS, 2, 2),
                                      nn.Conv2d(CHANNELS, CHANNELS, 1),
                                      nn.Conv2d(CHANNELS, CHANNELS, 2, 2)])
        self.num_layers = 2

    def layer_id(self, name):
        if name.startswith('vit.blocks.'):
            return int(name.split('.')[2]) + 1
        return 0 if name.startswith('vit.patch_embed') else self.num_layers + 1

    def init_weights(self):
        """The ViT from `pretrained`, the pyramid drawn at random (each call draws anew)."""
        for param in self.pyramid.parameters():
            nn.init.normal_(param, std=0.1)
        if self.pretrained:
            self.vit.load_state_dict(torch.load(self.pretrained, weights_only=True))

    def forward(self, x):
        x = self.vit.patch_embed(x)
        for block in self.vit.blocks:
            x = x + block(x)
        return [layer(x) for layer in self.pyramid]


@pytest.fixture
def vit_cfg(tmp_path):
    weights = tmp_path / 'vit.pth'
    torch.manual_seed(123)
    torch.save(StandInPyramidViT().vit.state_dict(), weights)
    cfg = tiny_cfg()
    cfg.model.pretrained = str(weights)
    cfg.model.backbone = dict(type='StandInPyramidViT')
    cfg.model.decode_head.in_channels = [CHANNELS] * 4
    return cfg


def test_frozen_model_starts_from_the_students_backbone_pyramid_included(vit_cfg):
    """The backbone (what the distance reads) is the student's; the unused decode head stays
    the frozen model's own draw, as in MIC."""
    model = build(vit_cfg)
    student = model.get_model().backbone.state_dict()
    frozen = model.get_imnet_model().backbone.state_dict()
    assert student.keys() == frozen.keys()
    for key in student:
        assert torch.equal(student[key], frozen[key]), key
    pretrained = torch.load(vit_cfg.model.pretrained, weights_only=True)
    assert torch.equal(frozen['vit.patch_embed.weight'], pretrained['patch_embed.weight'])


def test_feature_distance_is_zero_at_the_start_and_pulls_the_pyramid_back(vit_cfg):
    model = build(vit_cfg)
    inputs = batch()
    seed_all()
    _, feat = model.source_pass(inputs['img'], inputs['img_metas'], inputs['gt_semantic_seg'])
    assert feat[-1].shape[1] == CHANNELS
    loss, mask = model.calc_feat_dist(inputs['img'], inputs['gt_semantic_seg'], feat)
    assert mask.any() and loss.item() == 0.0

    with torch.no_grad():
        model.get_model().backbone.pyramid[3].bias.add_(1.0)
    seed_all()
    _, feat = model.source_pass(inputs['img'], inputs['img_metas'], inputs['gt_semantic_seg'])
    loss, _ = model.calc_feat_dist(inputs['img'], inputs['gt_semantic_seg'], feat)
    assert loss.item() > 0
    loss.backward()
    assert model.get_model().backbone.pyramid[3].bias.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.get_imnet_model().parameters())


def test_mic_step_runs_with_the_vit_backbone(vit_cfg):
    model = build(vit_cfg)
    seed_all()
    log_vars = model.forward_train(**batch())
    assert torch.isfinite(log_vars['src.loss_imnet_feat_dist'])
