"""Experiment groups for `run_experiments.py --exp ID`, in the form of MIC's experiments.py.

`generate_experiment_cfgs(id)` returns one config dict per (setting, seed): a `_base_` list
(paths relative to `configs/`), the overrides on top of it, and MIC's meta keys (`name`,
`exp`, `name_dataset`, ...). Run names are built as MIC builds them, so runs of this
repository and of MIC line up in one results table.

Runs build on the shipped configs and set only what their group varies (seed, masking, PCPR
options) plus the names: HRDA runs on configs/hrda/, MIC(HRDA) runs on configs/mic/, PCPR runs
on the MIC config plus PCPR's uda block (configs/_base_/uda/pcpr.py, as configs/pcpr/*.py),
the 512x512 MIC ablations on configs/daformer/. Runs on data that no shipped config has
(Dark Zurich, Cityscapes -> Cityscapes) are composed from `_base_` files with the segmentor and
schedule of a shipped config. tests/configs/resolved/ holds every generated config, resolved.

Ids (MIC's where they are MIC's groups): 40 HRDA, 80 MIC(HRDA) on four benchmarks (MIC Table 2),
82 MIC domain study (mask modes, Table 6), 83 MIC ablations (Table 7: without colour
augmentation, masking, EMA teacher or confidence weight), 84 MIC block size / ratio (Table 8),
85 supervised training with MIC masking (Table 9), 90 PCPR, 91 PCPR ablations, 95 MIC(HRDA) and
PCPR with DINOv2 backbones (configs/vfm/, VFM-UDA++'s optimizer settings).
"""
import copy
import functools
import itertools
import os.path as osp
from typing import Dict, List, Optional, Tuple, Union

from mmseg.utils.errors import UserError

SEEDS = [0, 1, 2]
# (source, target, MIC mask mode). Cityscapes targets get the pseudo-label margin crop
# (v2): ACDC and Dark Zurich images have no rectification artefacts to hide.
GTA2CS = ('gtaHR', 'cityscapesHR', 'separatetrgaug')
SYN2CS = ('synthiaHR', 'cityscapesHR', 'separatetrgaug')
CS2ACDC = ('cityscapesHR', 'acdcHR', 'separate')
CS2DZUR = ('cityscapesHR', 'darkzurichHR', 'separate')
MASK_BLOCK_SIZE, MASK_RATIO = 64, 0.7
RCS_T, RCS_MIN_CROP = 0.01, 0.5 * 2**2  # 4x the pixels of DAFormer's 512x512 crop
MASK_MODE_ABBR = {
    'separate': 'sep',
    'separateaug': 'spa',
    'separatesrc': 'sps',
    'separatesrcaug': 'spsa',
    'separatetrg': 'spt',
    'separatetrgaug': 'spta',
}
# PCPR ablations on GTA->Cityscapes: (name tag, uda overrides). K=10, proto_scale='lr' and
# the filter's terms off are the defaults, i.e. the GTA->Cityscapes runs of group 90, and
# without the prototypes the default is MIC(HRDA), group 80 (MIC leaves such already-run
# points out of its ablation groups as well).
PCPR_ABLATIONS: List[Tuple[str, dict]] = [
    ('consTedgeT', dict(plf=dict(use_consistency=True, use_edge=True))),  # the spec's filter
    ('consT', dict(plf=dict(use_consistency=True))),  # filter: scale consistency only
    ('edgeT', dict(plf=dict(use_edge=True))),  # filter: edge probability only
    ('consTedgeTfpcN', dict(plf=dict(use_consistency=True, use_edge=True), fpc=None)),  # no FPC
    ('K1', dict(fpc=dict(num_prototypes=1))),
    ('K5', dict(fpc=dict(num_prototypes=5))),
    ('pshr', dict(fpc=dict(proto_scale='hr'))),
    ('psboth', dict(fpc=dict(proto_scale='both'))),
]


def _clean_name(name: str) -> str:
    """MIC's short run names: no dots/brackets, T/F/N for booleans and None."""
    for old, new in [('.', ''), ('True', 'T'), ('False', 'F'), ('None', 'N'),
                     ('[', ''), (']', ''), (',', 'j'), (' ', ''),
                     ('cityscapes', 'cs'), ('synthia', 'syn'),
                     ('darkzurich', 'dzur')]:
        name = name.replace(old, new)
    return name


def mask_settings(mask_mode: str, block_size: int = MASK_BLOCK_SIZE, ratio: float = MASK_RATIO,
                  alpha: Union[str, float] = 'same',
                  pseudo_threshold: Union[str, float, None] = 'same',
                  mask_lambda: float = 1) -> Tuple[dict, str]:
    """MIC's `uda` keys of the masked image consistency and their run-name part."""
    uda = dict(
        mask_mode=mask_mode,
        mask_alpha=alpha,
        mask_pseudo_threshold=pseudo_threshold,
        mask_lambda=mask_lambda,
        # `_delete_`: the base value is None, which mmcv cannot merge a dict into.
        mask_generator=dict(
            type='block',
            mask_ratio=ratio,
            mask_block_size=block_size,
            _delete_=True))
    name = f'_m{block_size}-{ratio}-'
    if alpha != 'same':
        name += f'a{alpha}-'
    if pseudo_threshold != 'same':
        name += f'p{pseudo_threshold}-'
    name += MASK_MODE_ABBR[mask_mode]
    if mask_lambda != 1:
        name += f'-w{mask_lambda}'
    return uda, name


CONFIGS = osp.join(osp.dirname(osp.abspath(__file__)), 'configs')
# The shipped configs the runs build on, by (source, target); paths relative to configs/,
# as `_base_` entries.
HRDA_CONFIGS = {
    ('gtaHR', 'cityscapesHR'): 'hrda/gtaHR2csHR_hrda.py',
    ('synthiaHR', 'cityscapesHR'): 'hrda/synthiaHR2csHR_hrda.py',
}
MIC_CONFIGS = {
    ('gtaHR', 'cityscapesHR'): 'mic/gtaHR2csHR_mic_hrda.py',
    ('synthiaHR', 'cityscapesHR'): 'mic/synthiaHR2csHR_mic_hrda.py',
    ('cityscapesHR', 'acdcHR'): 'mic/csHR2acdcHR_mic_hrda.py',
}
# MIC(HRDA) with a DINOv2 backbone, by (source, target, encoder).
VFM_CONFIGS = {
    ('gtaHR', 'cityscapesHR', 'dinov2_vitl'): 'vfm/gtaHR2csHR_mic_hrda_dinov2_vitl.py',
    ('synthiaHR', 'cityscapesHR', 'dinov2_vitl'): 'vfm/synthiaHR2csHR_mic_hrda_dinov2_vitl.py',
    ('cityscapesHR', 'acdcHR', 'dinov2_vitl'): 'vfm/csHR2acdcHR_mic_hrda_dinov2_vitl.py',
    ('gtaHR', 'cityscapesHR', 'dinov2_vitb'): 'vfm/gtaHR2csHR_mic_hrda_dinov2_vitb.py',
}
DAFORMER_CONFIG = 'daformer/gta2cs_uda_warm_fdthings_rcs_croppl_a999_daformer_mitb5_s0.py'
# PCPR's uda block (type, plf, fpc), put on top of a MIC config as configs/pcpr/*.py do.
PCPR_UDA = '_base_/uda/pcpr.py'
# Dark Zurich runs are composed from `_base_` files, with the segmentor and schedule of the
# shipped ACDC config: configs/mic/csHR2dzurHR_mic_hrda.py is that config with the Dark Zurich
# folders and keeps the ACDC config's (unused) top-level variables, which building on it
# would add to the generated configs.
COMPOSED_FROM = {('cityscapesHR', 'darkzurichHR'): 'mic/csHR2acdcHR_mic_hrda.py'}
SCHEDULE_KEYS = ('optimizer_config', 'optimizer', 'runner', 'checkpoint_config', 'evaluation')


def shipped(path: str) -> dict:
    """The config `configs/<path>` resolved by mmcv, as plain dicts (a fresh copy)."""
    return copy.deepcopy(_resolved(path))


@functools.lru_cache(maxsize=None)
def _resolved(path: str) -> dict:
    import warnings

    from mmcv import Config
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # mmcv's notice about its 2.0 release
        return Config.fromfile(osp.join(CONFIGS, path))._cfg_dict.to_dict()


def merge(into: dict, update: dict) -> dict:
    """`update` merged into a copy of `into` as mmcv merges a child config: dict into dict,
    anything else (None, lists) replaces."""
    out = copy.deepcopy(into)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def pcpr_uda(overrides: Optional[dict] = None) -> dict:
    """PCPR's uda block from its one home (configs/_base_/uda/pcpr.py) with `overrides`."""
    return merge(shipped(PCPR_UDA)['uda'], overrides or {})


def root_bases(dataset: str, uda_base: str, model: str = 'daformer_sepaspp_mitb5') -> List[str]:
    """The `_base_` list of a config composed from `_base_` files (MIC's order)."""
    return [
        '_base_/default_runtime.py',
        f'_base_/models/{model}.py',
        f'_base_/datasets/{dataset}.py',
        f'_base_/uda/{uda_base}.py',
        '_base_/schedules/adamw.py',
        '_base_/schedules/poly10warm.py',
    ]


def with_meta(cfg: Dict, exp_id: int, dataset: str, uda_name: str, decoder: str,
              seed: int, encoder: str = 'mitb5',
              opt: str = 'adamw_6e-05_pmTrue_poly10warm_1x2_40k') -> Dict:
    """MIC's meta/name keys (MiT-B5 unless `encoder` says otherwise) and the seed."""
    cfg.update({
        'seed': seed,
        'exp': exp_id,
        'name_dataset': dataset,
        'name_architecture': f'{decoder}_{encoder}',
        'name_encoder': encoder,
        'name_decoder': decoder,
        'name_uda': uda_name,
        'name_opt': opt,
    })
    cfg['name'] = _clean_name(
        f'{dataset}_{uda_name}_{decoder}_{encoder}_poly10warm_s{seed}')
    return cfg


def hrda_uda_name(benchmark: Tuple[str, str, str], mic: bool = True, pcpr: bool = False,
                  tag: str = '') -> str:
    """The UDA part of an HRDA run's name (MIC's scheme)."""
    source, target, mask_mode = benchmark
    uda_name = f'{"pcpr" if pcpr else "dacs_a999_fdthings"}_rcs{RCS_T}-{RCS_MIN_CROP}'
    if 'cityscapes' in target:
        uda_name += '_cpl2'
    if mic:
        uda_name += mask_settings(mask_mode)[1]
    if tag:
        uda_name += f'_{tag}'
    return uda_name


def hrda_cfg(exp_id: int,
             benchmark: Tuple[str, str, str],
             seed: int,
             mic: bool = True,
             pcpr: bool = False,
             uda_overrides: Optional[dict] = None,
             tag: str = '') -> Dict:
    """One HRDA, MIC(HRDA) or PCPR run with MiT-B5 + DAFormer at 1024x1024 (MIC's id 80).

    HRDA runs build on the shipped HRDA config of the benchmark, MIC runs on its MIC config,
    PCPR runs on its MIC config plus PCPR's uda block, as configs/pcpr/*.py do. Dark Zurich,
    whose shipped configs are the ACDC ones with its folders, is composed from `_base_` files.

    Args:
        benchmark: (source, target, MIC mask mode).
        mic: add masked image consistency (MIC) on top of HRDA.
        pcpr: add PCPR's uda block (configs/_base_/uda/pcpr.py).
        uda_overrides: merged into PCPR's uda block (PCPR ablations).
        tag: appended to the UDA part of the name to tell ablations apart.
    """
    source, target, mask_mode = benchmark
    plcrop = 'cityscapes' in target
    crop = '1024x1024'
    uda = pcpr_uda(uda_overrides) if pcpr else {}
    uda_name = hrda_uda_name(benchmark, mic, pcpr, tag)
    if mic:
        uda.update(mask_settings(mask_mode)[0])
    decoder = 'hrda1-512-0.1_daformer_sepaspp_sl'
    dataset = f'{source}2{target}_{crop}'
    if (source, target) in COMPOSED_FROM:
        cfg = composed_hrda_cfg(source, target, plcrop)
    else:
        cfg = {'_base_': [(MIC_CONFIGS if mic else HRDA_CONFIGS)[source, target]]}
        if not mic:
            # MIC's tuple, as all runs of this file (the HRDA config has HRDA's list).
            cfg['model'] = dict(hr_crop_size=(512, 512))
    if uda:
        cfg['uda'] = uda
    return with_meta(cfg, exp_id, dataset, uda_name, decoder, seed)


def vfm_cfg(exp_id: int, benchmark: Tuple[str, str, str], seed: int,
            encoder: str = 'dinov2_vitl', pcpr: bool = False) -> Dict:
    """One MIC(HRDA) or PCPR run with a DINOv2 backbone: the shipped configs/vfm/ config of the
    benchmark (its masking, optimizer and bf16 included), plus PCPR's uda block for PCPR."""
    source, target, _ = benchmark
    shipped_cfg = VFM_CONFIGS[source, target, encoder]
    cfg = {'_base_': [shipped_cfg]}
    if pcpr:
        cfg['uda'] = pcpr_uda()
    return with_meta(cfg, exp_id, f'{source}2{target}_1024x1024',
                     hrda_uda_name(benchmark, pcpr=pcpr), 'hrda1-512-0.1_daformer_sepaspp_sl',
                     seed, encoder=encoder, opt=shipped(shipped_cfg)['name_opt'])


def composed_hrda_cfg(source: str, target: str, plcrop: bool) -> Dict:
    """A (MIC-)HRDA run from `_base_` files, with the segmentor and schedule of the shipped
    config `COMPOSED_FROM[source, target]`."""
    data_train = dict(
        rare_class_sampling=dict(
            min_pixels=3000, class_temp=RCS_T, min_crop_ratio=RCS_MIN_CROP))
    if plcrop:
        data_train['target'] = dict(crop_pseudo_margins=[30, 240, 30, 30])
    like = shipped(COMPOSED_FROM[source, target])
    cfg = {
        '_base_': root_bases(f'uda_{source}_to_{target}_1024x1024', 'dacs_a999_fdthings'),
        'gpu_model': like['gpu_model'],
        'n_gpus': like['n_gpus'],
        'model': like['model'],
        'data': dict(samples_per_gpu=2, workers_per_gpu=1, train=data_train),
    }
    cfg.update({key: like[key] for key in SCHEDULE_KEYS})
    return cfg


def daformer_cfg(exp_id: int, seed: int, mask: Tuple[dict, str],
                 source: str = 'gta', target: str = 'cityscapes',
                 uda_base: str = 'dacs_a999_fdthings', rcs: bool = True,
                 plcrop: bool = True) -> Dict:
    """One MIC run with MiT-B5 + DAFormer at 512x512 (MIC's ablation setting, ids 83-85).

    The GTA -> Cityscapes runs with DAFormer's self-training, rare class sampling and
    pseudo-label crop build on the shipped DAFormer config; others are composed from `_base_`
    files with its segmentor and schedule.

    Args:
        mask: (`uda` keys, name part) from `mask_settings`.
        uda_base: file in `configs/_base_/uda/` ('dacs_srconly' for supervised training).
        rcs: rare class sampling (T=0.01, min crop ratio 0.5).
        plcrop: DAFormer's pseudo-label crop (ignore the top 15 / bottom 120 rows).
    """
    mask_uda, mask_name = mask
    uda = copy.deepcopy(mask_uda)
    uda_name = uda_base + (f'_rcs{RCS_T}' if rcs else '') + ('_cpl' if plcrop else '') + \
        mask_name
    # A separate masking teacher needs the larger card (MIC's meta key).
    gpu_model = 'NVIDIATITANRTX' if (uda['mask_alpha'], uda['mask_pseudo_threshold']) \
        != ('same', 'same') else 'NVIDIAGeForceRTX2080Ti'
    if (source, target, uda_base, rcs, plcrop) == ('gta', 'cityscapes', 'dacs_a999_fdthings',
                                                   True, True):
        cfg = {'_base_': [DAFORMER_CONFIG], 'data': dict(workers_per_gpu=1)}
    else:
        like = shipped(DAFORMER_CONFIG)
        data_train = {}
        if rcs:
            data_train['rare_class_sampling'] = dict(
                min_pixels=3000, class_temp=RCS_T, min_crop_ratio=0.5)
        if plcrop:
            uda.update(pseudo_weight_ignore_top=15, pseudo_weight_ignore_bottom=120)
        cfg = {
            '_base_': root_bases(f'uda_{source}_to_{target}_512x512', uda_base),
            'n_gpus': like['n_gpus'],
            'data': dict(samples_per_gpu=2, workers_per_gpu=1, train=data_train),
        }
        cfg.update({key: like[key] for key in SCHEDULE_KEYS})
    cfg.update(gpu_model=gpu_model, uda=uda)
    return with_meta(cfg, exp_id, f'{source}2{target}', uda_name, 'daformer_sepaspp', seed)


# MIC Table 7 rows beyond the complete method: (mask mode, block size, ratio, alpha, threshold).
MIC_ABLATIONS = [
    ('separatetrg', 32, 0.7, 'same', 'same'),  # without colour augmentation
    ('separatetrgaug', 32, 0, 'same', 'same'),  # without masking
    ('separatetrgaug', 32, 0.7, 0, 'same'),  # without EMA teacher
    ('separatetrgaug', 32, 0.7, 'same', None),  # without pseudo-label confidence weight
]
# MIC Table 6: mask modes not already run in group 80.
MIC_DOMAIN_STUDY = [
    ('gtaHR', 'cityscapesHR', 'separatesrcaug'),
    ('gtaHR', 'cityscapesHR', 'separateaug'),
    ('cityscapesHR', 'acdcHR', 'separatesrc'),
    ('cityscapesHR', 'acdcHR', 'separatetrg'),
]


def _pcpr(exp_id: int, benchmark, seed: int, tag: str = '',
          overrides: Optional[dict] = None) -> Dict:
    return hrda_cfg(exp_id, benchmark, seed, pcpr=True, tag=tag, uda_overrides=overrides)


EXPERIMENTS = {
    # HRDA (HRDA paper, Table 1)
    40: lambda: [hrda_cfg(40, b, s, mic=False)
                 for b in (GTA2CS, SYN2CS) for s in SEEDS],
    # MIC(HRDA) on four benchmarks (MIC paper, Table 2)
    80: lambda: [hrda_cfg(80, b, s)
                 for b in (GTA2CS, SYN2CS, CS2ACDC, CS2DZUR) for s in SEEDS],
    # MIC domain study: which images the masked consistency uses (MIC paper, Table 6)
    82: lambda: [hrda_cfg(82, b, s) for b in MIC_DOMAIN_STUDY for s in SEEDS],
    # MIC ablations on DAFormer GTA->Cityscapes at 512x512 (MIC paper, Table 7)
    83: lambda: [daformer_cfg(83, s, mask_settings(mode, block, ratio, alpha, threshold))
                 for (mode, block, ratio, alpha, threshold), s
                 in itertools.product(MIC_ABLATIONS, SEEDS)],
    # MIC block size and mask ratio (MIC paper, Table 8); 32 / 0.7 is the complete method
    84: lambda: [daformer_cfg(84, s, mask_settings('separatetrgaug', block, ratio))
                 for block, ratio, s in itertools.product((16, 32, 64, 128),
                                                          (0.3, 0.5, 0.7, 0.9), SEEDS)
                 if (block, ratio) != (32, 0.7)],
    # Supervised Cityscapes training with MIC masking on the labelled images (MIC Table 9)
    85: lambda: [daformer_cfg(85, s, mask_settings('separatesrc', 32, 0.7),
                              source='cityscapes', target='cityscapes',
                              uda_base='dacs_srconly', rcs=False, plcrop=False)
                 for s in SEEDS],
    # PCPR on the benchmarks of configs/pcpr/
    90: lambda: [_pcpr(90, b, s) for b in (GTA2CS, SYN2CS, CS2ACDC)
                 for s in SEEDS],
    # PCPR component ablations on GTA->Cityscapes
    91: lambda: [_pcpr(91, GTA2CS, s, tag, overrides)
                 for tag, overrides in PCPR_ABLATIONS for s in SEEDS],
    # MIC(HRDA) and PCPR with DINOv2 ViT-L (three benchmarks) and ViT-B (GTA->Cityscapes)
    95: lambda: [vfm_cfg(95, b, s, encoder, pcpr)
                 for b, encoder in ((GTA2CS, 'dinov2_vitl'), (SYN2CS, 'dinov2_vitl'),
                                    (CS2ACDC, 'dinov2_vitl'), (GTA2CS, 'dinov2_vitb'))
                 for pcpr in (False, True) for s in SEEDS],
}


def generate_experiment_cfgs(id: int) -> List[Dict]:
    """Config dicts of experiment group `id`, one per setting and seed."""
    if id not in EXPERIMENTS:
        known = ', '.join(str(k) for k in sorted(EXPERIMENTS))
        raise UserError(f'unknown experiment id {id}; known ids: {known} '
                        '(see experiments.py)')
    return EXPERIMENTS[id]()
