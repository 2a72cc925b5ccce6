"""Preflight check of a config's data, statistics, weights, disk and GPU before a long run.

Every check reuses the check that training itself would hit (dataset folder and pair checks,
rare-class-sampling stats, label-id check, pretrained loading), but collects the problems
instead of stopping at the first, so that one run lists everything to fix.
"""
import copy
import os.path as osp
import shutil
from typing import Dict, List, Optional

import mmcv
import numpy as np

from .config_checks import build_with_clear_errors
from ..utils.errors import UserError

# Free disk space below which checkpoints and logs of a run may not fit (a MiT-B5 UDA
# checkpoint holds student, teacher and ImageNet model).
MIN_FREE_DISK_GB = 5.0
# GPU memory (GiB) of the `gpu_model` MIC's configs name, i.e. what the config is known to fit.
GPU_MODEL_MEMORY_GB = {'NVIDIATITANRTX': 24, 'NVIDIAGeForceRTX2080Ti': 11,
                       'NVIDIATeslaV100-SXM2-16GB': 16, 'NVIDIATeslaV100-SXM2-32GB': 32,
                       'NVIDIAA100-SXM4-40GB': 40}


def _dataset_configs(cfg: mmcv.Config) -> Dict[str, dict]:
    """{config key: dataset config} of every plain dataset (UDA source/target, val, test)."""
    found = {}
    for split in ('train', 'val', 'test'):
        node = cfg.data.get(split)
        if node is None:
            continue
        if node.get('type') == 'UDADataset':
            found[f'data.{split}.source'] = node.source
            found[f'data.{split}.target'] = node.target
        else:
            found[f'data.{split}'] = node
    return found


def _build(dataset_cfg: dict, test_mode: bool, where: str):
    from ..datasets import build_dataset
    return build_with_clear_errors(lambda c: build_dataset(c, dict(test_mode=test_mode)),
                                   copy.deepcopy(dataset_cfg), where)


def check_datasets(cfg: mmcv.Config, samples: int, problems: List[str],
                   report: List[str]) -> dict:
    """Folders, images with their labels, and label ids of `samples` labels per dataset."""
    built = {}
    configs = _dataset_configs(cfg)
    for key, dataset_cfg in configs.items():
        same = next((k for k in built if configs[k] == dataset_cfg), None)
        if same is not None:  # data.test is often data.val: one report, one check
            report.append(f'{key}: same as {same}')
            continue
        try:
            dataset = _build(dataset_cfg, not key.startswith('data.train'), key)
        except UserError as err:
            problems.append(f'{key}: {err}')
            continue
        built[key] = dataset
        labelled = [info for info in dataset.img_infos if 'ann' in info]
        report.append(f'{key}: {len(dataset)} images in {dataset.img_dir}'
                      + (f', {len(labelled)} with labels in {dataset.ann_dir}' if labelled
                         else ''))
        check_label_samples(dataset, key, samples, problems)
    return built


def check_label_samples(dataset, key: str, samples: int, problems: List[str]) -> None:
    """Read `samples` evenly spaced labels and apply the training's label-id check."""
    from ..datasets.pipelines.loading import check_label_ids
    if dataset.ann_dir is None or not dataset.CLASSES or samples <= 0:
        return
    indices = np.unique(np.linspace(0, len(dataset) - 1, min(samples, len(dataset))).astype(int))
    for idx in indices:
        path = osp.join(dataset.ann_dir, dataset.img_infos[idx]['ann']['seg_map'])
        try:
            label = dataset.get_gt_seg_map_by_idx(int(idx))
            check_label_ids(label, path, len(dataset.CLASSES), dataset.CONVERTER,
                            dataset.ignore_index)
        except UserError as err:
            problems.append(f'{key}: {err}')
            return


def check_rcs_stats(cfg: mmcv.Config, built: dict, samples: int, problems: List[str]) -> None:
    """The UDA dataset's own RCS checks, then `samples` stats entries against their labels."""
    train = cfg.data.get('train', {})
    if train.get('type') != 'UDADataset' or train.get('rare_class_sampling') is None:
        return
    if 'data.train.source' not in built or 'data.train.target' not in built:
        return  # the dataset problem is reported already
    try:
        uda = _build(train, False, 'data.train')
    except UserError as err:
        problems.append(f'data.train.rare_class_sampling: {err}')
        return
    from ..datasets.rare_class_sampling import load_rcs_stats
    source = uda.source
    class_stats, _ = load_rcs_stats(source.data_root, source.CONVERTER)
    fix = f're-run `python {source.CONVERTER}`' if source.CONVERTER else 're-write the stats'
    step = max(1, len(class_stats) // max(samples, 1))
    for entry in class_stats[::step][:samples]:
        name = osp.basename(entry['file'])
        if name not in uda.file_to_idx:
            problems.append(f'{source.data_root}/sample_class_stats.json names {name}, which '
                            f'the source dataset lacks; {fix}.')
            return
        label = source.get_gt_seg_map_by_idx(uda.file_to_idx[name])
        ids, counts = np.unique(label, return_counts=True)
        actual = {str(int(i)): int(n) for i, n in zip(ids, counts) if i != source.ignore_index}
        stated = {k: int(v) for k, v in entry.items() if k != 'file'}
        if actual != stated:
            problems.append(f'{source.data_root}/sample_class_stats.json does not match label '
                            f'{name} (stats {stated}, label {actual}); the labels changed '
                            f'after conversion: {fix}.')
            return


def check_pretrained(cfg: mmcv.Config, load: bool, problems: List[str]) -> None:
    """The backbone's ImageNet weights exist and (when `load`) fit the backbone."""
    model = cfg.get('model', {})
    source = model.get('pretrained') or model.get('backbone', {}).get('pretrained')
    if not source:
        return
    if '://' not in source and not osp.isfile(source):
        problems.append(f'model.pretrained: pretrained backbone weights not found: {source}. '
                        'Put the ImageNet weights there (see pretrained/README), or set '
                        '--cfg-options model.pretrained=None to train from scratch.')
        return
    if not load:
        return
    from ..models import build_backbone
    try:
        build_backbone(dict(model.backbone, pretrained=source)).init_weights()
    except UserError as err:
        problems.append(f'model.pretrained: {err}')


def check_disk(work_dir: str, problems: List[str]) -> None:
    folder = osp.abspath(work_dir)
    while not osp.isdir(folder):
        folder = osp.dirname(folder)
    free = shutil.disk_usage(folder).free / 2**30
    if free < MIN_FREE_DISK_GB:
        problems.append(f'only {free:.1f} GB free on the disk of {work_dir} (checkpoints need '
                        f'up to ~{MIN_FREE_DISK_GB:.0f} GB); free space or choose another '
                        '--work-dir.')


def check_gpu(cfg: mmcv.Config, problems: List[str]) -> None:
    """GPU memory vs the GPU the config was run on (`gpu_model`); only with CUDA present."""
    import torch
    need = GPU_MODEL_MEMORY_GB.get(cfg.get('gpu_model', ''))
    if need is None or not torch.cuda.is_available():
        return
    have = torch.cuda.get_device_properties(0).total_memory / 2**30
    if have < need * 0.95:
        problems.append(f'the GPU has {have:.0f} GB but this config was run on a '
                        f'{cfg.gpu_model} ({need} GB); expect out-of-memory, or lower '
                        'data.samples_per_gpu / the crop size.')


def check_logger_hooks(cfg: mmcv.Config, problems: List[str]) -> None:
    """An opt-in W&B hook needs the wandb package."""
    hooks = cfg.get('log_config', {}).get('hooks', [])
    if any(h.get('type') == 'WandbLoggerHook' for h in hooks):
        try:
            import wandb  # noqa: F401
        except ImportError:
            problems.append('log_config.hooks has WandbLoggerHook but wandb is not installed: '
                            '`pip install wandb` (or remove the hook).')


def check_setup(cfg: mmcv.Config, cheap: bool = False,
                report: Optional[List[str]] = None) -> List[str]:
    """All problems of `cfg`'s setup, one line each with its fix; [] when ready to train.

    `cheap` (the check at the start of tools/train.py) reads 2 labels and no stats samples
    per dataset and only checks that the pretrained file exists; the full check reads 20
    labels and 5 stats entries and loads the pretrained weights into the backbone.
    `report` receives one line per dataset (folder and file counts).
    """
    problems: List[str] = []
    report = report if report is not None else []
    built = check_datasets(cfg, 2 if cheap else 20, problems, report)
    check_rcs_stats(cfg, built, 0 if cheap else 5, problems)
    check_pretrained(cfg, load=not cheap, problems=problems)
    check_disk(cfg.get('work_dir') or '.', problems)
    check_gpu(cfg, problems)
    check_logger_hooks(cfg, problems)
    return problems


def require_setup(cfg: mmcv.Config) -> None:
    """The cheap check at the start of training: a UserError listing every problem."""
    problems = check_setup(cfg, cheap=True)
    if problems:
        raise UserError(f'the setup check found {len(problems)} problem(s) (full check: '
                        '`python tools/check_setup.py CONFIG`; skip: --no-check-setup):\n'
                        + '\n'.join(f'error: {p}' for p in problems))
