"""configs/vfm/: MIC(HRDA) and PCPR with DINOv2 backbones and VFM-UDA++'s optimizer settings.

Each MIC config is the shipped MIC config of its benchmark with only the backbone, the optimizer
and the precision changed; each PCPR config is its VFM MIC config plus PCPR's uda block. Each
builds and trains one iteration with a tiny ViT in tests/models/uda/test_vfm_configs_step.py.
"""
import pytest
from mmcv.runner import build_optimizer_constructor

from mmseg.apis.config_checks import load_config
from mmseg.utils.errors import UserError

from configs_helpers import resolved

VFM_MIC = {
    'configs/vfm/gtaHR2csHR_mic_hrda_dinov2_vitl.py': 'configs/mic/gtaHR2csHR_mic_hrda.py',
    'configs/vfm/synthiaHR2csHR_mic_hrda_dinov2_vitl.py':
        'configs/mic/synthiaHR2csHR_mic_hrda.py',
    'configs/vfm/csHR2acdcHR_mic_hrda_dinov2_vitl.py': 'configs/mic/csHR2acdcHR_mic_hrda.py',
    'configs/vfm/gtaHR2csHR_mic_hrda_dinov2_vitb.py': 'configs/mic/gtaHR2csHR_mic_hrda.py',
}
VFM_PCPR = {
    'configs/vfm/gtaHR2csHR_pcpr_dinov2_vitl.py': 'configs/vfm/gtaHR2csHR_mic_hrda_dinov2_vitl.py',
    'configs/vfm/synHR2csHR_pcpr_dinov2_vitl.py':
        'configs/vfm/synthiaHR2csHR_mic_hrda_dinov2_vitl.py',
    'configs/vfm/csHR2acdcHR_pcpr_dinov2_vitl.py':
        'configs/vfm/csHR2acdcHR_mic_hrda_dinov2_vitl.py',
}
ALL = sorted(VFM_MIC) + sorted(VFM_PCPR)
VITL = dict(model_name='vit_large_patch14_dinov2', out_indices=[5, 11, 17, 23],
            pretrained='pretrained/dinov2_vitl14_pretrain.pth', channels=1024, lr=1e-5)
VITB = dict(model_name='vit_base_patch14_dinov2', out_indices=[2, 5, 8, 11],
            pretrained='pretrained/dinov2_vitb14_pretrain.pth', channels=768, lr=5e-5)


def _changed(a, b):
    return {k for k in set(a) | set(b) if a.get(k, 'absent') != b.get(k, 'absent')}


@pytest.mark.parametrize('path', ALL)
def test_config_loads_and_accepts_its_own_keys_as_overrides(path):
    cfg = load_config(path, {'optimizer.paramwise_cfg.layer_decay_rate': 0.8,
                             'model.backbone.grad_checkpointing': True})
    assert cfg.optimizer.paramwise_cfg.layer_decay_rate == 0.8
    with pytest.raises(UserError, match="Did you mean 'optimizer.paramwise_cfg.encoder_lr_mult'"):
        load_config(path, {'optimizer.paramwise_cfg.encoder_lr_mul': 0.2})


@pytest.mark.parametrize('path', ALL)
def test_optimizer_section_builds_its_constructor(path):
    optimizer = dict(resolved(path)['optimizer'])
    constructor = build_optimizer_constructor(dict(
        type=optimizer.pop('constructor'), paramwise_cfg=optimizer.pop('paramwise_cfg'),
        optimizer_cfg=optimizer))
    assert (constructor.layer_decay_rate, constructor.encoder_lr_mult) == (0.9, 0.1)


@pytest.mark.parametrize('path,mic', sorted(VFM_MIC.items()))
def test_vfm_config_is_its_mic_config_with_backbone_optimizer_and_precision(path, mic):
    vfm, base = resolved(path), resolved(mic)
    assert _changed(vfm, base) == {'model', 'optimizer', 'mixed_precision', 'gpu_model', 'name',
                                   'name_architecture', 'name_encoder', 'name_opt'}
    assert _changed(vfm['model'], base['model']) == {'pretrained', 'backbone', 'decode_head'}
    assert _changed(vfm['model']['decode_head'], base['model']['decode_head']) == {'in_channels'}
    assert vfm['mixed_precision'] == 'bf16'


@pytest.mark.parametrize('path,expected', [
    ('configs/vfm/gtaHR2csHR_mic_hrda_dinov2_vitl.py', VITL),
    ('configs/vfm/gtaHR2csHR_mic_hrda_dinov2_vitb.py', VITB),
])
def test_backbone_head_and_lr_of_vit_l_and_vit_b(path, expected):
    cfg = resolved(path)
    backbone = cfg['model']['backbone']
    assert backbone['type'] == 'TimmViT'
    assert backbone['model_name'] == expected['model_name']
    assert backbone['out_indices'] == expected['out_indices']
    assert backbone['pyramid'] == dict(type='ViTAdapter', out_channels=expected['channels'])
    assert cfg['model']['pretrained'] == expected['pretrained']
    assert cfg['model']['decode_head']['in_channels'] == [expected['channels']] * 4
    assert cfg['optimizer'] == dict(
        type='AdamW', lr=expected['lr'], betas=(0.9, 0.999), weight_decay=0.01,
        constructor='LayerDecayOptimizerConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.9, encoder_lr_mult=0.1))


def test_gta_vit_l_keeps_mics_uda_schedule_and_crops():
    """VFM-UDA++'s settings that MIC(HRDA) already has: EMA 0.999, threshold 0.968, 70 %
    masking, rare class sampling, 1500 warm-up iterations of 40k; HRDA's 1024/512 crops."""
    cfg = resolved('configs/vfm/gtaHR2csHR_mic_hrda_dinov2_vitl.py')
    uda = cfg['uda']
    assert (uda['alpha'], uda['pseudo_threshold']) == (0.999, 0.968)
    assert uda['mask_generator'] == dict(type='block', mask_ratio=0.7, mask_block_size=64)
    assert uda['imnet_feature_dist_lambda'] == 0.005
    assert cfg['data']['train']['rare_class_sampling']['class_temp'] == 0.01
    assert (cfg['lr_config']['warmup_iters'], cfg['runner']['max_iters']) == (1500, 40000)
    assert cfg['model']['scales'] == [1, 0.5] and list(cfg['model']['hr_crop_size']) == [512, 512]


@pytest.mark.parametrize('path,mic', sorted(VFM_PCPR.items()))
def test_vfm_pcpr_config_is_its_vfm_mic_config_plus_the_pcpr_block(path, mic):
    p, m = resolved(path), resolved(mic)
    block = resolved('configs/_base_/uda/pcpr.py')['uda']
    assert p['uda'] == dict(m['uda'], **block)
    assert _changed(p, m) == {'uda', 'name', 'name_uda'}
