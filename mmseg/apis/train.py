"""Training entry: data loaders, optimizer, the (exactly resumable) IterBasedRunner and hooks.

`runner=dict(type='IterBasedRunner', ...)` (MIC's key) runs `SafeIterBasedRunner`
(mmseg/core/runner): exact resume, atomic checkpoints, safe loading, non-finite step skipping.
"""
import os
import random
import warnings

import numpy as np
import torch
from mmcv.runner import build_optimizer, build_runner, get_dist_info

from ..core.evaluation import DistEvalHook, EvalHook
from ..core.hooks import RunSummaryHook  # noqa: F401  (registers the hook for configs)
from ..core.runner import broadcast_module_state, build_resumable_dataloader
from ..core.runner.distributed import gather_objects
from ..core.runner.nonfinite import NONFINITE_DEFAULT
from ..core.runner.preemption import ignore_preemption_signals
from ..datasets import build_dataloader, build_dataset
from ..utils import get_root_logger
from ..utils.device import ModelOnDevice, default_device

RESUMABLE_RUNNERS = {'IterBasedRunner': 'SafeIterBasedRunner',
                     'SafeIterBasedRunner': 'SafeIterBasedRunner'}


def set_random_seed(seed, deterministic=False):
    """Seed python, numpy and torch (all devices); `deterministic` see `make_deterministic`."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    if deterministic:
        make_deterministic()


def make_deterministic():
    """Ask torch for deterministic kernels wherever it has them (`--deterministic`).

    cuDNN picks fixed algorithms (no benchmarking), cuBLAS gets the fixed workspace it needs,
    and `torch.use_deterministic_algorithms` swaps in the deterministic versions of
    `index_add_`, scatter and others. The backward of bilinear `interpolate` on CUDA has no
    deterministic version in torch, so torch only warns about it; a CUDA run is then
    reproducible up to that op's float summation order.
    """
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    torch.use_deterministic_algorithms(True, warn_only=True)


def wrap_model(model, device):
    """Put the model on `device`; batches are moved there on every call (`ModelOnDevice`).

    No DataParallel/DDP: mmcv's wrappers cannot scatter batches with torch 2.x, and processes
    average their gradients themselves (`average_gradients`: UDA models in their step, plain
    segmentors in the optimizer hook), because DDP's reducer does not support MIC's several
    backward passes per step.
    """
    return ModelOnDevice(model, device)


def place_model(model, device):
    """`wrap_model`, then rank 0's weights in every process (whatever each drew at
    initialisation); the broadcast follows the move because NCCL only carries GPU tensors."""
    model = wrap_model(model, device)
    broadcast_module_state(model.module)
    return model


def shared_data_seed(seed):
    """The config's seed, or one random draw shared by all processes (stored in checkpoints)."""
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    return int(gather_objects(seed)[0])


def build_train_dataloader(dataset, cfg, distributed, data_seed, resumable):
    """`samples_per_gpu` items per process and iteration: the global batch is
    world_size * samples_per_gpu (each UDA item = one source + one target image)."""
    if resumable:
        rank, world_size = get_dist_info()
        return build_resumable_dataloader(dataset, cfg.data.samples_per_gpu,
                                          cfg.data.workers_per_gpu, data_seed, rank, world_size)
    return build_dataloader(dataset, cfg.data.samples_per_gpu, cfg.data.workers_per_gpu,
                            num_gpus=1 if distributed else len(cfg.gpu_ids),
                            dist=distributed, seed=cfg.seed, drop_last=True)


def runner_config(cfg):
    if cfg.get('runner') is None:
        cfg.runner = {'type': 'IterBasedRunner', 'max_iters': cfg.total_iters}
        warnings.warn('config is now expected to have a `runner` section, please set `runner` '
                      'in your config.', UserWarning)
    runner_cfg = dict(cfg.runner)
    runner_cfg['type'] = RESUMABLE_RUNNERS.get(runner_cfg['type'], runner_cfg['type'])
    return runner_cfg


def train_segmentor(model, dataset, cfg, distributed=False, validate=False, timestamp=None,
                    meta=None, device=None):
    """Train a segmentor or a UDA model with the (safe) IterBasedRunner on `device`
    (default: the current GPU if any, else the CPU)."""
    logger = get_root_logger(log_level=cfg.log_level)
    runner_cfg = runner_config(cfg)
    resumable = runner_cfg['type'] == 'SafeIterBasedRunner'
    data_seed = shared_data_seed(cfg.get('seed'))
    datasets = dataset if isinstance(dataset, (list, tuple)) else [dataset]
    data_loaders = [build_train_dataloader(ds, cfg, distributed, data_seed, resumable)
                    for ds in datasets]

    model = place_model(model, device if device is not None else default_device())
    optimizer = build_optimizer(model, cfg.optimizer)

    default_args = dict(model=model, batch_processor=None, optimizer=optimizer,
                        work_dir=cfg.work_dir, logger=logger, meta=meta)
    if resumable:
        default_args.update(data_seed=data_seed,
                            nonfinite_loss=cfg.get('nonfinite_loss', NONFINITE_DEFAULT))
    runner = build_runner(runner_cfg, default_args=default_args)
    # UDA methods step the optimizer themselves (MIC sets optimizer_config=None), so no
    # OptimizerHook is registered for them.
    runner.register_training_hooks(cfg.lr_config, cfg.get('optimizer_config'),
                                   cfg.checkpoint_config, cfg.log_config,
                                   cfg.get('momentum_config', None),
                                   custom_hooks_config=cfg.get('custom_hooks', None))
    runner.timestamp = timestamp

    if validate:
        val_dataset = build_dataset(cfg.data.val, dict(test_mode=True))
        val_dataloader = build_dataloader(val_dataset, samples_per_gpu=1,
                                          workers_per_gpu=cfg.data.workers_per_gpu,
                                          dist=distributed, shuffle=False,
                                          worker_setup=ignore_preemption_signals)
        eval_cfg = dict(cfg.get('evaluation', {}))
        eval_cfg['by_epoch'] = runner_cfg['type'] not in RESUMABLE_RUNNERS.values()
        eval_hook = DistEvalHook if distributed else EvalHook
        # mmcv >= 1.3.8 runs the iteration timer at priority LOW; evaluating after it keeps
        # the logger's `data_time` consistent.
        runner.register_hook(eval_hook(val_dataloader, **eval_cfg), priority='LOW')

    if cfg.resume_from:
        runner.resume(cfg.resume_from, map_location='cpu')
    elif cfg.load_from:
        runner.load_checkpoint(cfg.load_from)
    runner.run(data_loaders, cfg.workflow)
