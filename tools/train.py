"""Train a segmentor or a UDA method: `python tools/train.py CONFIG [--work-dir DIR] ...`."""
import argparse
import contextlib
import copy
import logging
import os
import os.path as osp
import sys
import time

if __package__ in (None, ''):  # `python tools/train.py` from the repository root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmseg import __version__  # noqa: E402  (first: it checks the mmcv version)

import mmcv  # noqa: E402
import torch  # noqa: E402
from mmcv.runner import get_dist_info  # noqa: E402
from mmcv.utils import DictAction, get_git_hash  # noqa: E402
from mmcv.utils.logging import logger_initialized  # noqa: E402

from mmseg.apis import set_random_seed, train_segmentor  # noqa: E402
from mmseg.apis.train import make_deterministic  # noqa: E402
from mmseg.apis.performance import configure_performance  # noqa: E402
from mmseg.core.runner import find_latest_checkpoint  # noqa: E402
from mmseg.core.runner.launch import init_distributed  # noqa: E402
from mmseg.datasets import build_dataset  # noqa: E402
from mmseg.models.builder import build_train_model  # noqa: E402
from mmseg.utils import collect_env, get_root_logger  # noqa: E402
from mmseg.utils.checkpoint import set_unsafe_load_default  # noqa: E402
from mmseg.apis.config_checks import build_with_clear_errors, load_config  # noqa: E402
from mmseg.utils.device import select_device  # noqa: E402
from mmseg.utils.errors import UserError, run_cli  # noqa: E402
from mmseg.apis.setup_check import require_setup  # noqa: E402


def parse_args(args):
    parser = argparse.ArgumentParser(description='Train a segmentor or UDA method')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--load-from', help='the checkpoint file to load weights from')
    parser.add_argument('--resume-from', help='the checkpoint file to resume from')
    parser.add_argument('--auto-resume', action='store_true',
                        help='resume from the latest checkpoint in the work dir, if any')
    parser.add_argument('--no-validate', action='store_true',
                        help='whether not to evaluate the checkpoint during training')
    group_gpus = parser.add_mutually_exclusive_group()
    group_gpus.add_argument('--gpus', type=int,
                            help='number of gpus to use (only applicable to non-distributed)')
    group_gpus.add_argument('--gpu-ids', type=int, nargs='+',
                            help='the GPU to train on, e.g. --gpu-ids 1 (one per process; '
                                 'several GPUs: --launcher pytorch)')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic kernels where torch has them (cuDNN, cuBLAS, '
                             'index_add_, ...), with or without --seed')
    parser.add_argument('--cfg-options', '--options', nargs='+', action=DictAction,
                        dest='cfg_options', help='override config settings, e.g. uda.alpha=0.99')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow checkpoints that need full unpickling (only from a trusted '
                             'source); by default only tensors and plain containers are read')
    parser.add_argument('--no-check-setup', action='store_true',
                        help='skip the quick data/stats/weights check at start-up '
                             '(also `check_setup = False` in the config)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(args)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def prepare_config(args):
    """Resolve the config, work dir, devices and seed exactly as MIC's tools/train.py does."""
    cfg = load_config(args.config, args.cfg_options)
    if cfg.get('cudnn_benchmark', False):
        torch.backends.cudnn.benchmark = True
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.load_from is not None:
        cfg.load_from = args.load_from
    if args.resume_from is not None:
        cfg.resume_from = args.resume_from
    if args.auto_resume and args.resume_from is None:
        # The newest complete iter_N.pth of the work dir; none: a fresh start.
        cfg.resume_from = find_latest_checkpoint(cfg.work_dir) or cfg.get('resume_from')
    for key in ('resume_from', 'load_from'):
        if cfg.get(key) and not osp.isfile(cfg[key]):
            raise UserError(f'{key}: checkpoint {cfg[key]} does not exist.')
    if args.gpu_ids is not None:
        cfg.gpu_ids = args.gpu_ids
    else:
        cfg.gpu_ids = range(1) if args.gpus is None else range(args.gpus)
    cfg.setdefault('load_from', None)
    cfg.setdefault('resume_from', None)
    cfg.setdefault('workflow', [('train', 1)])
    cfg.setdefault('log_level', 'INFO')
    return cfg


class _DropInitReport(logging.Filter):
    def filter(self, record):
        return 'before and after calling `init_weights`' not in record.getMessage()


@contextlib.contextmanager
def quiet_init_report(logger):
    """Hide mmcv>=1.4's per-parameter initialisation report (thousands of lines for MiT-B5)."""
    drop = _DropInitReport()
    # mmcv reports through the first logger it initialised, often its own 'mmcv' logger.
    loggers = {logger, logging.getLogger('mmcv'), *map(logging.getLogger, logger_initialized)}
    for each in loggers:
        each.addFilter(drop)
    try:
        yield
    finally:
        for each in loggers:
            each.removeFilter(drop)


def set_randomness(seed, deterministic, logger):
    """Seed every generator when a seed is given; `--deterministic` asks torch for deterministic
    kernels with or without a seed (MIC only did so together with a seed)."""
    if seed is not None:
        logger.info(f'Set random seed to {seed}, deterministic: {deterministic}')
        set_random_seed(seed)
    if deterministic:
        make_deterministic()


@contextlib.contextmanager
def preserved_rng():
    """Restore the random state of Python, NumPy and torch's CPU generator on exit, so that
    what runs inside (no CUDA kernels) draws no number that training would otherwise see."""
    import random

    import numpy as np
    state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])


def main(args=None):
    args = parse_args(sys.argv[1:] if args is None else args)
    set_unsafe_load_default(args.unsafe_load)
    cfg = prepare_config(args)

    if args.launcher == 'none':
        distributed = False
    else:
        distributed = True
        init_distributed(args.launcher, cfg.get('dist_params', {}))
    rank, world_size = get_dist_info()
    if distributed:
        cfg.gpu_ids = range(world_size)
    device = select_device(cfg.gpu_ids, distributed)

    mmcv.mkdir_or_exist(osp.abspath(cfg.work_dir))
    timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
    log_file = osp.join(cfg.work_dir, f'{timestamp}.log') if rank == 0 else None
    logger = get_root_logger(log_file=log_file, log_level=cfg.log_level)
    # The config as given, dumped and logged below; the seed and train_cfg set on `cfg` before
    # the model is built are not part of it.
    given_cfg = copy.deepcopy(cfg)

    # The model's seed is shared by all processes (initial weights are also broadcast from
    # rank 0); the data stream mixes the rank into every sample's seed (core/runner/data.py).
    seed = args.seed if args.seed is not None else cfg.get('seed')
    set_randomness(seed, args.deterministic, logger)
    cfg.model.train_cfg = dict(cfg.model.get('train_cfg') or {})
    # Only rank 0 writes files (debug images go to train_cfg.work_dir).
    cfg.model.train_cfg.update(work_dir=cfg.work_dir if rank == 0 else None,
                               log_config=cfg.log_config)
    # Building the model reads every key of model/uda: a config mistake (an unknown key at
    # any level, a wrong value) is reported before the checks of data, stats and weights.
    model = build_with_clear_errors(build_train_model, cfg, 'model/uda')
    if not args.no_check_setup and cfg.get('check_setup', True):
        with preserved_rng():  # between the model's construction and its init_weights
            require_setup(cfg)  # after the logger: the datasets it builds log through it
    if rank == 0:
        given_cfg.dump(osp.join(cfg.work_dir, osp.basename(args.config)))

    env_info = '\n'.join(f'{k}: {v}' for k, v in collect_env().items())
    dash_line = '-' * 60 + '\n'
    logger.info('Environment info:\n' + dash_line + env_info + '\n' + dash_line)
    logger.info(f'Distributed training: {distributed}')
    logger.info(f'Config:\n{given_cfg.pretty_text}')
    cfg.seed = seed
    meta = dict(env_info=env_info, seed=seed, exp_name=osp.basename(args.config))

    with quiet_init_report(logger):
        model.init_weights()
    configure_performance(model, cfg)
    logger.info(model)

    datasets = [build_with_clear_errors(build_dataset, copy.deepcopy(cfg.data.train),
                                        'data.train')]
    dataset_meta = dict(CLASSES=datasets[0].CLASSES, PALETTE=datasets[0].PALETTE)
    if cfg.checkpoint_config is not None:
        cfg.checkpoint_config.meta = dict(
            mmseg_version=f'{__version__}+{get_git_hash()[:7]}', config=cfg.pretty_text,
            **dataset_meta)
    model.CLASSES = dataset_meta['CLASSES']
    logger.info(f'Training on {device}')
    train_segmentor(model, datasets, cfg, distributed=distributed,
                    validate=not args.no_validate, timestamp=timestamp, meta=meta, device=device)


def cli(args=None):
    """Run `main`, turning user errors into one message on stderr and exit status 1, and a
    preempted run (SIGTERM/SIGUSR1, checkpoint saved) into exit status 75."""
    run_cli(main, args)


if __name__ == '__main__':
    cli()
