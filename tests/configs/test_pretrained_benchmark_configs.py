"""configs/demo/pretrained/: every method builds, starts from the stand-in via `pretrained=`
and the UDA methods have MIC's ImageNet feature distance on, with the stand-in as imnet_model."""
from pathlib import Path

import pytest

from mmseg.models.builder import build_train_model
from mmseg.apis.config_checks import load_config
from tools.synthetic import pretrain

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'demo' / 'pretrained'
THINGS = [6, 7, 11, 12, 13, 14, 15, 16, 17, 18]


@pytest.mark.parametrize('method', ['source_only', 'mic', 'pcpr', 'target_oracle'])
def test_pretrained_config_builds_from_the_standin(method):
    cfg = load_config(str(CONFIGS / f'{method}_synthetic.py'))
    assert cfg.model.pretrained == 'pretrained/mit_b0_synthetic.pth'
    warmup, iters = cfg.lr_config.warmup_iters, cfg.runner.max_iters
    assert warmup < 0.1 * iters
    model = build_train_model(cfg)
    if method == 'target_oracle':
        assert 'uda' not in cfg
        return
    uda = cfg.uda
    assert uda.imnet_feature_dist_lambda == 0.005
    assert list(uda.imnet_feature_dist_classes) == THINGS
    assert uda.imnet_feature_dist_scale_min_ratio == 0.75
    assert model.get_imnet_model().backbone.pretrained == 'pretrained/mit_b0_synthetic.pth'
    if method == 'pcpr':
        assert uda.fpc.proto_start_iter == warmup
        assert uda.plf is not None


VARIANTS = sorted(p.name[:-len('_synthetic.py')] for p in CONFIGS.glob('pcpr_*_synthetic.py'))


def test_the_study_variants_are_shipped():
    assert {'pcpr_fpc_only', 'pcpr_plf_only', 'pcpr_renorm', 'pcpr_proto', 'pcpr_soft',
            'pcpr_things_crop', 'pcpr_entropy_crop', 'pcpr_region', 'pcpr_offline_pl',
            'pcpr_fpc_x10', 'pcpr_spec', 'pcpr_fpc_only_x10'} <= set(VARIANTS)


@pytest.mark.parametrize('variant', VARIANTS)
def test_study_variant_is_pcpr_on_the_same_benchmark_and_builds(variant):
    """A variant changes PCPR's switches only: same stand-in, schedule and feature distance."""
    cfg = load_config(str(CONFIGS / f'{variant}_synthetic.py'))
    base = load_config(str(CONFIGS / 'pcpr_synthetic.py'))
    assert cfg.uda.type == 'PCPR' and cfg.model == base.model
    assert cfg.runner == base.runner and cfg.lr_config == base.lr_config
    assert cfg.uda.imnet_feature_dist_lambda == base.uda.imnet_feature_dist_lambda
    changed = {k for k in set(cfg.uda) | set(base.uda) if cfg.uda.get(k) != base.uda.get(k)}
    assert changed and changed <= {'plf', 'fpc', 'hr_crop_policy'}
    build_train_model(cfg)


VIT_METHODS = ['mic_vit', 'source_only_vit']


@pytest.mark.parametrize('method', VIT_METHODS)
def test_vit_config_is_its_mit_config_with_the_vit_standin_as_encoder(method):
    """Only the encoder changes (and the head's input widths): same UDA settings, schedule,
    data and feature distance."""
    cfg = load_config(str(CONFIGS / f'{method}_synthetic.py'))
    mit = load_config(str(CONFIGS / f"{method[:-len('_vit')]}_synthetic.py"))
    assert cfg.uda == mit.uda and cfg.data == mit.data and cfg.optimizer == mit.optimizer
    assert cfg.runner == mit.runner and cfg.lr_config == mit.lr_config
    assert {k for k in cfg.model if cfg.model[k] != mit.model[k]} == {
        'pretrained', 'backbone', 'decode_head'}
    assert {k for k in cfg.model.decode_head
            if cfg.model.decode_head[k] != mit.model.decode_head[k]} == {'in_channels'}


def test_vit_config_starts_from_the_vit_standin_that_pretrain_writes():
    cfg = load_config(str(CONFIGS / 'mic_vit_synthetic.py'))
    assert cfg.model.pretrained == pretrain.default_out(pretrain.VIT_BACKBONE)
    backbone = cfg.model.backbone
    assert backbone.type == 'TimmViT' and backbone.pyramid.type == 'SimpleFeaturePyramid'
    assert backbone.model_name == pretrain.VIT_STANDIN['model_name']
    assert backbone.model_kwargs == pretrain.VIT_STANDIN['model_kwargs']


def test_vit_config_builds_with_the_head_reading_the_pyramid_and_the_standin_as_imnet_model():
    cfg = load_config(str(CONFIGS / 'mic_vit_synthetic.py'))
    model = build_train_model(cfg)
    backbone = model.get_model().backbone
    assert model.get_model().decode_head.in_channels == backbone.out_channels == [192] * 4
    assert model.get_imnet_model().backbone.pretrained == 'pretrained/vit_tiny_synthetic.pth'


CONFIDENT = CONFIGS.parent / 'confident'
CONFIDENT_METHODS = sorted(p.name[:-len('_synthetic.py')] for p in CONFIDENT.glob('*_synthetic.py'))
SCHEDULE_KEYS = {'runner', 'lr_config', 'checkpoint_config', 'evaluation', 'log_config', 'name'}


@pytest.mark.parametrize('method', CONFIDENT_METHODS)
def test_confident_variant_is_the_pretrained_benchmark_with_its_schedule_momentum_and_threshold(
        method):
    """The confident-teacher variant changes only the schedule (x2, warm-up and prototype start
    scaled), the teacher momentum and the pseudo threshold; model, data and feature distance
    are the pretrained benchmark's."""
    cfg = load_config(str(CONFIDENT / f'{method}_synthetic.py'))
    base = load_config(str(CONFIGS / f'{method}_synthetic.py'))
    changed = {k for k in set(cfg) | set(base) if cfg.get(k) != base.get(k)}
    assert changed - {'uda'} <= SCHEDULE_KEYS
    assert cfg.runner.max_iters == 2 * base.runner.max_iters
    assert cfg.lr_config.warmup_iters == 2 * base.lr_config.warmup_iters
    if cfg.get('uda', {}).get('source_only'):  # no teacher: nothing of the UDA block changes
        assert cfg.uda == base.uda
    elif 'uda' in cfg:
        uda_changed = {k for k in cfg.uda if cfg.uda.get(k) != base.uda.get(k)}
        teacher = {'alpha', 'pseudo_threshold'}
        assert teacher <= uda_changed <= teacher | {'fpc'}
        assert (cfg.uda.alpha, cfg.uda.pseudo_threshold) == (0.995, 0.8)
        if cfg.uda.get('fpc'):
            assert cfg.uda.fpc.proto_start_iter == cfg.lr_config.warmup_iters
            assert cfg.uda.fpc.proj_dim == base.uda.fpc.proj_dim
