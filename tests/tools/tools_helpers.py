"""A tiny trained PCPR run on synthetic data, shared by the user-tool tests."""
import os
import subprocess
import sys
from pathlib import Path

from tools.convert_datasets import cityscapes, gta
from tools.synthetic import generate as synthetic

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / 'configs/demo/pcpr_synthetic.py'


def make_synthetic_data(root: Path) -> Path:
    """GTA- and Cityscapes-layout synthetic data with the converters' RCS stats."""
    synthetic.generate(str(root), num_source=9, num_target_train=2, num_target_val=2,
                       size=(128, 256), seed=0)
    gta.main([str(root / 'gta'), '--nproc', '1'])
    cityscapes.main([str(root / 'cityscapes'), '--nproc', '1'])
    return root


def data_options(root: Path) -> list:
    return [f'data.train.source.data_root={root}/gta/',
            f'data.train.target.data_root={root}/cityscapes/',
            f'data.val.data_root={root}/cityscapes/', f'data.test.data_root={root}/cityscapes/',
            'data.workers_per_gpu=0', 'data.train.rare_class_sampling.min_pixels=1']


def run_tool(args, cwd=REPO, timeout=600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def train_tiny(root: Path, work_dir: Path, iters: int = 2) -> Path:
    """2 iterations of the demo PCPR config through tools/train.py; returns the work dir."""
    result = run_tool([REPO / 'tools/train.py', DEMO_CONFIG, '--work-dir', work_dir,
                       '--cfg-options', *data_options(root), f'runner.max_iters={iters}',
                       f'checkpoint_config.interval={iters}', f'evaluation.interval={iters}',
                       'log_config.interval=1'])
    assert result.returncode == 0, result.stderr[-3000:]
    return work_dir
