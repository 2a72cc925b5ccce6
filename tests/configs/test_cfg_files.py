"""Shipped config files: they load, and resolve to MIC's values (cfg_expected_facts.py)."""
import glob
import os

import pytest

import cfg_expected_facts as facts
from configs_helpers import CONFIGS, REPO, load, resolved

SHIPPED = sorted(
    os.path.relpath(p, REPO)
    for p in glob.glob(os.path.join(CONFIGS, '**', '*.py'), recursive=True)
    if os.sep + 'demo' + os.sep not in p and os.sep + 'generated' + os.sep not in p)
EXPERIMENT_CONFIGS = [p for p in SHIPPED if os.sep + '_base_' + os.sep not in p]
MIC_GTA = 'configs/mic/gtaHR2csHR_mic_hrda.py'
PCPR_GTA = 'configs/pcpr/gtaHR2csHR_pcpr.py'
PCPR_ALL = [
    'configs/pcpr/gtaHR2csHR_pcpr.py', 'configs/pcpr/synHR2csHR_pcpr.py',
    'configs/pcpr/csHR2acdcHR_pcpr.py'
]


@pytest.fixture(scope='module')
def mic_gta() -> dict:
    return resolved(MIC_GTA)


@pytest.fixture(scope='module')
def pcpr_gta() -> dict:
    return resolved(PCPR_GTA)


def test_the_required_experiment_configs_are_shipped():
    for path in [
            MIC_GTA, 'configs/mic/synthiaHR2csHR_mic_hrda.py',
            'configs/mic/csHR2acdcHR_mic_hrda.py',
            'configs/hrda/gtaHR2csHR_hrda.py',
            'configs/hrda/synthiaHR2csHR_hrda.py',
            'configs/daformer/'
            'gta2cs_uda_warm_fdthings_rcs_croppl_a999_daformer_mitb5_s0.py'
    ] + PCPR_ALL:
        assert path in SHIPPED


@pytest.mark.parametrize('path', SHIPPED)
def test_every_shipped_config_loads_with_mmcv(path):
    assert len(load(path)._cfg_dict) > 0


@pytest.mark.parametrize('path', EXPERIMENT_CONFIGS)
def test_experiment_configs_carry_mic_meta_keys(path):
    cfg = resolved(path)
    for key in ('name', 'exp', 'name_dataset', 'name_architecture',
                'name_encoder', 'name_decoder', 'name_uda', 'name_opt',
                'n_gpus', 'seed'):
        assert key in cfg, key


def _keys(node) -> set:
    """All dict keys at any depth of a resolved config."""
    if isinstance(node, dict):
        return set(node).union(*(_keys(v) for v in node.values()))
    if isinstance(node, (list, tuple)):
        return set().union(*(_keys(v) for v in node))
    return set()


@pytest.mark.parametrize('path', EXPERIMENT_CONFIGS)
def test_resolved_configs_keep_no_delete_markers(path):
    assert '_delete_' not in _keys(resolved(path))


@pytest.mark.parametrize('cfg_name', ['mic_gta', 'pcpr_gta'])
@pytest.mark.parametrize('key,expected', [
    ('model', facts.MODEL),
    ('data', facts.DATA),
    ('optimizer', facts.OPTIMIZER),
    ('lr_config', facts.LR_CONFIG),
    ('runner', facts.RUNNER),
])
def test_gta_config_matches_the_reference_facts(cfg_name, key, expected,
                                               request):
    assert request.getfixturevalue(cfg_name)[key] == expected


@pytest.mark.parametrize('cfg_name', ['mic_gta', 'pcpr_gta'])
def test_gta_config_runtime_matches_the_reference_facts(cfg_name, request):
    cfg = request.getfixturevalue(cfg_name)
    assert {k: cfg[k] for k in facts.RUNTIME} == facts.RUNTIME


def test_mic_gta_uda_matches_the_reference_facts(mic_gta):
    assert mic_gta['uda'] == facts.UDA_MIC


def test_mic_gta_meta_is_mics(mic_gta):
    assert mic_gta['name'] == 'gtaHR2csHR_mic_hrda_s2'
    assert mic_gta['exp'] == 'basic'
    assert mic_gta['name_uda'] == \
        'dacs_a999_fdthings_rcs0.01-2.0_cpl2_m64-0.7-spta'
    assert mic_gta['name_architecture'] == \
        'hrda1-512-0.1_daformer_sepaspp_sl_mitb5'


def test_pcpr_gta_uda_is_mic_plus_the_contract_plf_and_fpc(pcpr_gta):
    assert pcpr_gta['uda'] == facts.UDA_PCPR


def test_pcpr_gta_differs_from_mic_only_in_uda_name_and_precision(
        mic_gta, pcpr_gta):
    changed = {k for k in set(mic_gta) | set(pcpr_gta)
               if mic_gta.get(k, 'absent') != pcpr_gta.get(k, 'absent')}
    assert changed == {'uda', 'name', 'name_uda', 'mixed_precision'}


@pytest.mark.parametrize('path', PCPR_ALL)
def test_pcpr_configs_state_mic_numerics_and_contract_defaults(path):
    cfg = resolved(path)
    assert 'mixed_precision' in cfg and cfg['mixed_precision'] is None
    assert cfg['uda']['type'] == 'PCPR'
    assert cfg['uda']['plf'] == facts.PLF
    assert cfg['uda']['fpc'] == facts.FPC


def test_pcpr_base_file_holds_pcprs_uda_block_only():
    """The one home of PCPR's keys: the block that configs/pcpr/*.py put on their MIC uda."""
    cfg = resolved('configs/_base_/uda/pcpr.py')
    assert cfg == dict(uda=dict(type='PCPR', plf=facts.PLF, fpc=facts.FPC))


def test_code_defaults_agree_with_the_pcpr_base_file():
    """Keys a config leaves out of plf/fpc take the code's defaults: the same values."""
    import inspect

    from mmseg.models.uda.prototype_learner import PrototypeLearner
    from mmseg.models.uda.pseudo_label_filter import PseudoLabelFilter
    uda = resolved('configs/_base_/uda/pcpr.py')['uda']
    plf_defaults = {k: p.default for k, p in
                    inspect.signature(PseudoLabelFilter).parameters.items()}
    fpc_defaults = {k: p.default for k, p in
                    inspect.signature(PrototypeLearner).parameters.items()}
    assert {k: plf_defaults[k] for k in uda['plf']} == uda['plf']
    assert {k: fpc_defaults[k] for k in uda['fpc']} == uda['fpc']


@pytest.mark.parametrize('path', PCPR_ALL + ['configs/pcpr/csHR2dzurHR_pcpr.py'])
def test_pcpr_configs_are_their_mic_config_plus_the_pcpr_block(path):
    mic = path.replace('pcpr/synHR2', 'mic/synthiaHR2').replace('pcpr/', 'mic/') \
        .replace('_pcpr.py', '_mic_hrda.py')
    p, m = resolved(path), resolved(mic)
    block = resolved('configs/_base_/uda/pcpr.py')['uda']
    assert p['uda'] == dict(m['uda'], **block)
    changed = {k for k in set(p) | set(m) if p.get(k, 'absent') != m.get(k, 'absent')}
    assert changed == {'uda', 'name', 'name_uda', 'mixed_precision'}


@pytest.mark.parametrize('pcpr,mic', [
    ('configs/pcpr/synHR2csHR_pcpr.py', 'configs/mic/synthiaHR2csHR_mic_hrda.py'),
    ('configs/pcpr/csHR2acdcHR_pcpr.py', 'configs/mic/csHR2acdcHR_mic_hrda.py'),
])
def test_other_pcpr_configs_build_on_their_mic_config(pcpr, mic):
    p, m = resolved(pcpr), resolved(mic)
    for key in ('model', 'data', 'optimizer', 'lr_config', 'runner', 'seed'):
        assert p[key] == m[key], key
    without_pcpr = {k: v for k, v in p['uda'].items() if k not in ('plf', 'fpc')}
    assert without_pcpr == dict(m['uda'], type='PCPR')


def test_hrda_gta_is_mic_without_masking_and_seed_1(mic_gta):
    hrda = resolved('configs/hrda/gtaHR2csHR_hrda.py')
    assert hrda['seed'] == 1
    assert hrda['uda']['mask_mode'] is None
    assert hrda['uda']['mask_lambda'] == 0
    assert hrda['uda']['mask_generator'] is None
    assert hrda['data']['samples_per_gpu'] == 2
    assert hrda['model']['hr_crop_size'] == [512, 512]
    assert hrda['data']['train']['rare_class_sampling']['min_crop_ratio'] == 2.0
    assert hrda['model']['test_cfg']['mode'] == 'slide'
    assert hrda['name'] == 'gtaHR2csHR_hrda_s1'


def test_hrda_synthia_uses_synthia_at_2560x1520():
    cfg = resolved('configs/hrda/synthiaHR2csHR_hrda.py')
    src = cfg['data']['train']['source']
    assert cfg['seed'] == 1
    assert (src['type'], src['data_root'], src['img_dir'], src['ann_dir']) == \
        ('SynthiaDataset', 'data/synthia/', 'RGB', 'GT/LABELS')
    assert src['pipeline'][2] == dict(type='Resize', img_scale=(2560, 1520))
    assert cfg['data']['train']['target']['crop_pseudo_margins'] == \
        [30, 240, 30, 30]


def test_daformer_config_uses_row_crop_min_crop_05_and_whole_inference():
    cfg = resolved('configs/daformer/'
                   'gta2cs_uda_warm_fdthings_rcs_croppl_a999_daformer_mitb5_s0.py')
    assert cfg['seed'] == 0
    assert cfg['uda']['pseudo_weight_ignore_top'] == 15
    assert cfg['uda']['pseudo_weight_ignore_bottom'] == 120
    assert cfg['uda']['alpha'] == 0.999
    assert cfg['data']['train']['rare_class_sampling'] == dict(
        min_pixels=3000, class_temp=0.01, min_crop_ratio=0.5)
    assert 'crop_pseudo_margins' not in cfg['data']['train']['target']
    assert cfg['model']['type'] == 'EncoderDecoder'
    assert cfg['model']['test_cfg'] == dict(mode='whole')
    assert cfg['data']['train']['source']['pipeline'][2] == dict(
        type='Resize', img_scale=(1280, 720))
    assert cfg['data']['test']['pipeline'][1]['img_scale'] == (1024, 512)


def test_acdc_mic_masks_source_and_target_without_margin_crop():
    cfg = resolved('configs/mic/csHR2acdcHR_mic_hrda.py')
    train = cfg['data']['train']
    assert cfg['uda']['mask_mode'] == 'separate'
    assert 'crop_pseudo_margins' not in train['target']
    assert train['source']['type'] == 'CityscapesDataset'
    assert train['source']['pipeline'][3]['cat_max_ratio'] == 0.75
    assert train['target']['type'] == 'ACDCDataset'
    assert train['target']['pipeline'][-1] == dict(type='Collect', keys=['img'])
    assert cfg['data']['test']['pipeline'][1]['img_scale'] == (1920, 1080)


def test_source_only_base_switches_off_the_teacher():
    assert resolved('configs/_base_/uda/dacs_srconly.py')['uda']['source_only']
