"""Dataset/pipeline registries and the data loader builder."""
import copy
import platform
import random
from functools import partial

import numpy as np
import torch
from mmcv.runner import get_dist_info
from mmcv.utils import Registry, build_from_cfg
from torch.utils.data import DataLoader, DistributedSampler

from ..utils.collate import collate

DATASETS = Registry('dataset')
PIPELINES = Registry('pipeline')

if platform.system() != 'Windows':
    # Many workers each opening images can exceed the default soft limit of open files.
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(min(4096, hard), soft), hard))


def build_dataset(cfg, default_args=None):
    """Build a dataset; `UDADataset` gets its source and target built here (as in MIC)."""
    if cfg['type'] == 'UDADataset':
        from .uda_dataset import UDADataset
        return UDADataset(
            source=build_dataset(cfg['source'], default_args),
            target=build_dataset(cfg['target'], default_args),
            cfg=copy.deepcopy(cfg))
    return build_from_cfg(cfg, DATASETS, default_args)


def worker_init_fn(worker_id, num_workers, rank, seed, then=None):
    """Seed numpy and random per worker: seed + rank * num_workers + worker_id (as MMSeg);
    then call `then(worker_id)`, if given."""
    if seed is not None:
        worker_seed = num_workers * rank + worker_id + seed
        np.random.seed(worker_seed)
        random.seed(worker_seed)
    if then is not None:
        then(worker_id)


def build_dataloader(dataset, samples_per_gpu, workers_per_gpu, num_gpus=1, dist=False,
                     shuffle=True, seed=None, drop_last=False, pin_memory=True,
                     worker_setup=None, **kwargs):
    """Build a DataLoader with mmcv's `collate` (DataContainer batches, pinnable).

    `worker_setup(worker_id)` runs in every worker after its seeding (the training run makes
    the workers ignore the scheduler's signals with it). `persistent_workers` is only passed
    with workers, since torch refuses it for 0 workers (MIC's string version check passed it
    unconditionally).
    """
    rank, world_size = get_dist_info()
    if dist:
        sampler = DistributedSampler(dataset, world_size, rank, shuffle=shuffle,
                                     seed=seed if seed is not None else 0)
        shuffle = False
        batch_size = samples_per_gpu
        num_workers = workers_per_gpu
    else:
        sampler = None
        batch_size = num_gpus * samples_per_gpu
        num_workers = num_gpus * workers_per_gpu
    init_fn = None
    if seed is not None or worker_setup is not None:
        init_fn = partial(worker_init_fn, num_workers=num_workers, rank=rank, seed=seed,
                          then=worker_setup)
    if num_workers > 0:
        kwargs.setdefault('persistent_workers', True)
    else:
        kwargs.pop('persistent_workers', None)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
        collate_fn=partial(collate, samples_per_gpu=samples_per_gpu),
        pin_memory=pin_memory and torch.cuda.is_available(), shuffle=shuffle,
        worker_init_fn=init_fn, drop_last=drop_last, **kwargs)
