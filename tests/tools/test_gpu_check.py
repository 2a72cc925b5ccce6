"""tools/gpu_check.sh: named steps through the real entry points, failures reported loudly.

The GPU run itself needs a lent H100; here the CPU smoke mode runs the very same commands.
"""
import json
import os
import re
import subprocess
import sys
import types

import pytest
import torch

from tools.gpu_check import STEP_NAMES, TINY_VIT_OPTIONS, VIT_CONFIG, select_steps

from tools_helpers import REPO

SCRIPT = REPO / 'tools' / 'gpu_check.sh'


def gpu_check(*args, out, cpu_smoke=True, timeout=420):
    env = dict(os.environ, OUT=str(out), PYTHON=sys.executable, OMP_NUM_THREADS='1',
               MKL_NUM_THREADS='1')
    env.pop('CPU_SMOKE', None)
    if cpu_smoke:
        env['CPU_SMOKE'] = '1'
    return subprocess.run(['bash', str(SCRIPT), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def statuses(out):
    summary = json.loads((out / 'summary.json').read_text())
    return summary, {step['step']: step for step in summary['steps']}


def test_the_user_path_runs_before_the_expensive_benchmarks():
    order = STEP_NAMES
    first_benchmark = min(i for i, name in enumerate(order) if name.startswith('benchmark_'))
    for name in ('train_mic_fp32', 'train_pcpr_fp32', 'resume', 'resume_on_cpu', 'test_lr',
                 'test_att', 'infer_cuda_vs_cpu', 'memory', 'pytest_cuda', 'train_pcpr_fast'):
        assert order.index(name) < first_benchmark, name
    assert all(name.startswith('benchmark_') for name in order[first_benchmark:])


def test_selected_steps_bring_the_steps_they_need_in_run_order():
    assert [s.name for s in select_steps(['memory'])] == ['data', 'train_pcpr_fp32', 'memory']
    assert [s.name for s in select_steps(['test_*'])] == \
        ['data', 'train_pcpr_fp32', 'test_lr', 'test_hr', 'test_att']
    assert [s.name for s in select_steps(['benchmark_test_*'])] == \
        ['benchmark_test_pcpr_fp32', 'benchmark_test_pcpr_bf16']


def test_vit_l_step_benchmarks_the_shipped_config_on_the_gpu_and_a_tiny_vit_on_the_cpu():
    """Random weights (tools/benchmark.py sets pretrained=None), the config's bf16."""
    step, = [s for s in select_steps(['benchmark_train_mic_vitl_bf16'])]
    gpu, = step.commands(types.SimpleNamespace(cpu_smoke=False, python='python'), step.name)
    cpu, = step.commands(types.SimpleNamespace(cpu_smoke=True, python='python'), step.name)
    assert gpu.argv[1:5] == ['tools/benchmark.py', VIT_CONFIG, '--mode', 'train']
    assert '--small' not in gpu.argv and not set(TINY_VIT_OPTIONS) & set(gpu.argv)
    assert not any(a.startswith('mixed_precision') for a in gpu.argv)
    assert {'--small', '--keep-encoder', *TINY_VIT_OPTIONS} <= set(cpu.argv)
    assert step.timeout <= 150 and not step.needs


def test_list_prints_every_step_and_unknown_steps_are_a_usage_error(tmp_path):
    listed = gpu_check('--list', out=tmp_path, cpu_smoke=False, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == STEP_NAMES
    wrong = gpu_check('--steps', 'train_nope', out=tmp_path, timeout=120)
    assert wrong.returncode == 2 and '--steps train_nope: no such step' in wrong.stderr


def test_steps_left_without_time_are_not_run_and_fail_the_run(tmp_path):
    result = gpu_check('--steps', 'env', '--budget', '5', out=tmp_path, timeout=120)
    assert result.returncode == 1
    summary, steps = statuses(tmp_path)
    assert steps['env']['status'] == 'not run' and summary['not_run'] == ['env']
    assert 'NOT RUN (time budget): env' in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
def test_gpu_mode_without_a_gpu_exits_at_once_saying_so(tmp_path):
    result = gpu_check(out=tmp_path / 'out', cpu_smoke=False, timeout=120)
    assert result.returncode == 2
    assert 'no CUDA device is visible' in result.stderr and 'CPU_SMOKE=1' in result.stderr
    assert not (tmp_path / 'out' / 'summary.json').exists()


@pytest.mark.slow
def test_cpu_smoke_runs_every_step_and_passes(tmp_path):
    """`CPU_SMOKE=1 bash tools/gpu_check.sh`: 158-165 s measured on the 2-core CPU."""
    result = gpu_check(out=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary, steps = statuses(tmp_path)
    assert summary['mode'] == 'cpu_smoke' and summary['ok'] and summary['finished']
    assert list(steps) == STEP_NAMES
    for name, step in steps.items():
        if name == 'train_pcpr_fast':  # torch.compile: GPU only
            assert step['status'] == 'skipped' and 'torch.compile' in step['note']
        else:
            assert step['status'] == 'passed', (name, step['note'])
        if step['status'] == 'passed' and name != 'memory':
            assert (tmp_path / f'{name}.log').stat().st_size > 0, name
    assert 'mIoU' in steps['train_pcpr_fp32']['note']
    assert 'max |diff| vs the uninterrupted iter_4: 0 ' in steps['resume']['note']
    assert '100.000 %' in steps['infer_cuda_vs_cpu']['note']
    assert steps['memory']['note'] == 'no CUDA memory logged (CPU)'
    assert (tmp_path / 'train_pcpr_fp32.log.json').is_file()
    benchmarks = [json.loads(line) for line in
                  (tmp_path / 'benchmark.jsonl').read_text().splitlines()]
    assert [b['step'] for b in benchmarks] == [n for n in STEP_NAMES
                                               if n.startswith('benchmark_')]
    assert all(b['small'] and b['s_per_iter'] > 0 for b in benchmarks)
    assert '[train_pcpr_fp32] ' in result.stdout  # the commands' output is tee'd
    assert re.search(r'^step +\| status  \| seconds \| note$', result.stdout, re.M)
    assert 'gpu_check: all steps passed or skipped (21 passed, 0 failed, 1 skipped, 0 not run)' \
        in result.stdout


@pytest.mark.slow
def test_a_deliberately_failing_step_fails_the_run_and_is_named_while_later_steps_run(
        tmp_path):
    result = gpu_check('--steps', 'train_mic_fp32,memory', '--fail-step', 'train_mic_fp32',
                       '--quiet', out=tmp_path, timeout=300)
    assert result.returncode == 1, result.stdout[-4000:]
    summary, steps = statuses(tmp_path)
    assert list(steps) == ['data', 'train_mic_fp32', 'train_pcpr_fp32', 'memory']
    assert steps['train_mic_fp32']['status'] == 'failed'
    assert 'deliberate (--fail-step)' in steps['train_mic_fp32']['note']
    assert [steps[n]['status'] for n in ('data', 'train_pcpr_fp32', 'memory')] == ['passed'] * 3
    assert not summary['ok'] and [f['step'] for f in summary['failed']] == ['train_mic_fp32']
    # The real command failed, and the summary shows the end of its log.
    assert "unknown type 'GpuCheckDeliberateFailure'" in summary['failed'][0]['log_tail'][-1]
    assert '-- FAILED train_mic_fp32' in result.stdout
    assert "| error: unknown type 'GpuCheckDeliberateFailure'" in result.stdout
    assert 'gpu_check: FAILED: train_mic_fp32 (3 passed, 1 failed, 0 skipped, 0 not run)' \
        in result.stdout
