"""experiments.py: experiment groups, run names, and their resolution by mmcv."""
import os

import pytest
from mmcv import Config

from experiments import generate_experiment_cfgs
from mmseg.utils.errors import UserError

from configs_helpers import CONFIGS, REPO, load


def resolve(cfg: dict, tmp_path) -> dict:
    """Write a generated config as run_experiments does (bases under configs/) and load it."""
    lines = [f"_base_ = {[os.path.join(CONFIGS, b) for b in cfg['_base_']]!r}"]
    lines += [f'{k} = {v!r}' for k, v in cfg.items() if k != '_base_']
    path = tmp_path / f"{cfg['name']}.py"
    path.write_text('\n'.join(lines) + '\n')
    return load(str(path))._cfg_dict.to_dict()


@pytest.mark.parametrize('exp_id,count', [(40, 6), (80, 12), (82, 12), (83, 12), (84, 45),
                                          (85, 3), (90, 9), (91, 24), (95, 24)])
def test_group_sizes_and_unique_names(exp_id, count):
    cfgs = generate_experiment_cfgs(exp_id)
    assert len(cfgs) == count
    assert len({c['name'] for c in cfgs}) == count
    assert all(c['exp'] == exp_id for c in cfgs)
    assert sorted({c['seed'] for c in cfgs}) == [0, 1, 2]


def test_unknown_id_lists_the_known_ids():
    with pytest.raises(UserError, match='known ids: 40, 80, 82, 83, 84, 85, 90, 91, 95'):
        generate_experiment_cfgs(12345)


def test_mic_run_names_follow_mics_scheme():
    names = [c['name'] for c in generate_experiment_cfgs(80)]
    assert names[0] == (
        'gtaHR2csHR_1024x1024_dacs_a999_fdthings_rcs001-20_cpl2_m64-07-spta_'
        'hrda1-512-01_daformer_sepaspp_sl_mitb5_poly10warm_s0')
    assert names[-1] == (
        'csHR2dzurHR_1024x1024_dacs_a999_fdthings_rcs001-20_m64-07-sep_'
        'hrda1-512-01_daformer_sepaspp_sl_mitb5_poly10warm_s2')


@pytest.mark.parametrize('exp_id,index,name', [
    (82, 0, 'gtaHR2csHR_1024x1024_dacs_a999_fdthings_rcs001-20_cpl2_m64-07-spsa_'
            'hrda1-512-01_daformer_sepaspp_sl_mitb5_poly10warm_s0'),
    (82, 11, 'csHR2acdcHR_1024x1024_dacs_a999_fdthings_rcs001-20_m64-07-spt_'
             'hrda1-512-01_daformer_sepaspp_sl_mitb5_poly10warm_s2'),
    (83, 0, 'gta2cs_dacs_a999_fdthings_rcs001_cpl_m32-07-spt_daformer_sepaspp_mitb5_'
            'poly10warm_s0'),
    (83, 3, 'gta2cs_dacs_a999_fdthings_rcs001_cpl_m32-0-spta_daformer_sepaspp_mitb5_'
            'poly10warm_s0'),
    (83, 6, 'gta2cs_dacs_a999_fdthings_rcs001_cpl_m32-07-a0-spta_daformer_sepaspp_mitb5_'
            'poly10warm_s0'),
    (83, 9, 'gta2cs_dacs_a999_fdthings_rcs001_cpl_m32-07-pN-spta_daformer_sepaspp_mitb5_'
            'poly10warm_s0'),
    (84, 0, 'gta2cs_dacs_a999_fdthings_rcs001_cpl_m16-03-spta_daformer_sepaspp_mitb5_'
            'poly10warm_s0'),
    (85, 2, 'cs2cs_dacs_srconly_m32-07-sps_daformer_sepaspp_mitb5_poly10warm_s2'),
])
def test_mic_ablation_run_names_follow_mics_scheme(exp_id, index, name):
    """Names written out from MIC's naming rule (experiments.py, config_from_vars)."""
    assert generate_experiment_cfgs(exp_id)[index]['name'] == name


@pytest.mark.parametrize('exp_id,index,key,value', [
    (83, 6, 'mask_alpha', 0),
    (83, 9, 'mask_pseudo_threshold', None),
    (83, 0, 'pseudo_weight_ignore_top', 15),
    (83, 0, 'pseudo_weight_ignore_bottom', 120),
    (85, 0, 'source_only', True),
    (85, 0, 'mask_mode', 'separatesrc'),
])
def test_mic_ablation_settings_resolve(exp_id, index, key, value, tmp_path):
    assert resolve(generate_experiment_cfgs(exp_id)[index], tmp_path)['uda'][key] == value


def test_block_size_group_leaves_out_the_complete_method():
    blocks = {(c['uda']['mask_generator']['mask_block_size'],
               c['uda']['mask_generator']['mask_ratio']) for c in generate_experiment_cfgs(84)}
    assert len(blocks) == 15 and (32, 0.7) not in blocks


def test_mic_group_covers_four_benchmarks_with_mics_mask_modes(tmp_path):
    cfgs = generate_experiment_cfgs(80)
    modes = {c['name_dataset']: c['uda']['mask_mode'] for c in cfgs}
    assert modes == {
        'gtaHR2cityscapesHR_1024x1024': 'separatetrgaug',
        'synthiaHR2cityscapesHR_1024x1024': 'separatetrgaug',
        'cityscapesHR2acdcHR_1024x1024': 'separate',
        'cityscapesHR2darkzurichHR_1024x1024': 'separate',
    }
    for c in cfgs:
        # The runs build on the shipped configs: the margins come from there.
        has_margins = 'crop_pseudo_margins' in resolve(c, tmp_path)['data']['train']['target']
        assert has_margins == ('cityscapesHR2' not in c['name_dataset'])


def test_hrda_group_has_no_masking():
    for c in generate_experiment_cfgs(40):
        assert 'uda' not in c
        assert '_m64' not in c['name']


def test_mic_group_seed_2_resolves_to_the_shipped_mic_config(tmp_path):
    gen = [c for c in generate_experiment_cfgs(80)
           if c['name_dataset'].startswith('gtaHR') and c['seed'] == 2][0]
    got = resolve(gen, tmp_path)
    shipped = load('configs/mic/gtaHR2csHR_mic_hrda.py')._cfg_dict.to_dict()
    for key in ('model', 'data', 'uda', 'optimizer', 'optimizer_config',
                'lr_config', 'runner', 'checkpoint_config', 'evaluation',
                'seed', 'name_uda', 'name_dataset', 'name_architecture',
                'name_opt', 'gpu_model', 'n_gpus'):
        assert got[key] == shipped[key], key


def test_pcpr_group_resolves_to_the_shipped_pcpr_config(tmp_path):
    gen = [c for c in generate_experiment_cfgs(90)
           if c['name_dataset'].startswith('gtaHR') and c['seed'] == 2][0]
    got = resolve(gen, tmp_path)
    shipped = load('configs/pcpr/gtaHR2csHR_pcpr.py')._cfg_dict.to_dict()
    for key in ('model', 'data', 'uda', 'optimizer', 'lr_config', 'runner',
                'name_uda'):
        assert got[key] == shipped[key], key


def _ablation(tag: str, seed: int = 0) -> dict:
    matches = [c for c in generate_experiment_cfgs(91)
               if f'_{tag}_' in c['name'] and c['seed'] == seed]
    assert len(matches) == 1, tag
    return matches[0]


@pytest.mark.parametrize('tag,path,value', [
    ('consTedgeT', ('plf', 'use_consistency'), True),  # the spec's filter
    ('consTedgeT', ('plf', 'use_edge'), True),
    ('consT', ('plf', 'use_consistency'), True),  # consistency only
    ('consT', ('plf', 'use_edge'), False),
    ('edgeT', ('plf', 'use_edge'), True),  # edge only
    ('edgeT', ('plf', 'use_consistency'), False),
    ('consTedgeTfpcN', ('fpc',), None),  # the spec's filter only
    ('consTedgeTfpcN', ('plf', 'use_edge'), True),
    ('K1', ('fpc', 'num_prototypes'), 1),
    ('K5', ('fpc', 'num_prototypes'), 5),
    ('pshr', ('fpc', 'proto_scale'), 'hr'),
    ('psboth', ('fpc', 'proto_scale'), 'both'),
])
def test_pcpr_ablation_overrides_resolve(tag, path, value, tmp_path):
    got = resolve(_ablation(tag), tmp_path)['uda']
    for key in path:
        got = got[key]
    assert got == value


def test_ablation_keeps_the_other_defaults(tmp_path):
    uda = resolve(_ablation('K5'), tmp_path)['uda']
    assert uda['fpc']['proto_scale'] == 'lr'
    assert uda['fpc']['lambda_cont'] == 0.01
    assert uda['plf']['use_edge'] is False
    assert uda['type'] == 'PCPR'
    assert uda['mask_mode'] == 'separatetrgaug'


def test_generated_base_files_exist():
    for exp_id in (40, 80, 90, 91):
        for c in generate_experiment_cfgs(exp_id):
            for base in c['_base_']:
                assert os.path.isfile(os.path.join(REPO, 'configs', base)), base
