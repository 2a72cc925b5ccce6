"""Command lines for the reliability tests: the tiny demo config on synthetic data."""
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'demo', 'pcpr_synthetic.py')
TRAIN = osp.join(REPO, 'tools', 'train.py')


def demo_options(root, max_iters=2, interval=1, workers=0, **extra):
    """`--cfg-options` for a short, quiet, deterministic demo run on `root`."""
    options = {
        'data.train.source.data_root': f'{root}/gta/',
        'data.train.target.data_root': f'{root}/cityscapes/',
        'data.val.data_root': f'{root}/cityscapes/',
        'data.test.data_root': f'{root}/cityscapes/',
        'runner.max_iters': max_iters, 'checkpoint_config.interval': interval,
        'checkpoint_config.max_keep_ckpts': 10, 'log_config.interval': 1,
        'log_config.img_interval': 0, 'data.workers_per_gpu': workers,
        # Prototype losses from the start, so the memory's state matters in 2-6 iterations.
        'uda.fpc.proto_start_iter': 0,
    }
    options.update(extra)
    return ['--cfg-options'] + [f'{k}={v}' for k, v in options.items()]


def subprocess_env(*pythonpath):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([REPO, *map(str, pythonpath)])
    return env


def train_command(*args):
    return [sys.executable, TRAIN, *map(str, args)]
