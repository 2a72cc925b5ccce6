"""tools/benchmark.py --small prints one valid JSON line (train, test and optimizer mode)."""
import json
import os
import subprocess
import sys

import pytest

from tools_helpers import REPO

CONFIG = 'configs/pcpr/gtaHR2csHR_pcpr.py'
KEYS = {'device', 'dtype', 'mixed_precision', 's_per_iter', 's_per_iter_min', 's_per_iter_max',
        'images_per_s', 'peak_memory_mb', 'flops_per_iter'}


def run_benchmark(*args):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, 'tools/benchmark.py', CONFIG, '--small', '--iters', '1',
                           '--warmup', '0', *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


@pytest.mark.slow
def test_train_mode_prints_one_json_line():
    result = run_benchmark('--mode', 'train', '--cfg-options', 'uda.pseudo_threshold=0.0')
    assert KEYS <= result.keys()
    assert result['mode'] == 'train' and result['device'] == 'cpu'
    assert result['crop_size'] == [128, 128] and result['images_per_iter'] == 4
    assert result['dtype'] == 'fp32' and result['s_per_iter'] > 0
    # training = 3 x student forward + the gradient-free teacher and ImageNet passes
    assert result['flops_per_iter'] == (3 * result['flops_forward_student']
                                        + result['flops_forward_no_grad'])


@pytest.mark.slow
def test_test_mode_prints_one_json_line_for_bf16():
    result = run_benchmark('--mode', 'test', '--cfg-options', 'mixed_precision=bf16')
    assert KEYS <= result.keys()
    assert result['mode'] == 'test' and result['test_size'] == [128, 256]
    assert result['dtype'] == 'bf16' and result['flops_per_iter'] > 0


def test_optimizer_mode_times_the_step_over_all_param_groups():
    grouped = run_benchmark('--mode', 'optimizer')
    single = run_benchmark('--mode', 'optimizer',
                           '--cfg-options', 'optimizer.foreach=False')
    # student, EMA teacher and ImageNet model each give mmcv one group per parameter
    assert grouped['param_groups'] == single['param_groups'] > 600
    assert grouped['foreach_optimizer'] is None and single['foreach_optimizer'] is False
    assert grouped['s_per_iter'] > 0 and grouped['flops_per_iter'] is None
