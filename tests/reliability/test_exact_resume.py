"""Killing a run after its mid-way checkpoint and resuming it gives the uninterrupted result."""
import glob
import json
import os.path as osp
import signal
import subprocess
import time

import pytest
import torch

from reliability_helpers import CONFIG, demo_options, subprocess_env, train_command

N = 4
STALL_HOOK = '''
import time
from mmcv.runner import HOOKS, Hook


@HOOKS.register_module()
class StallAfter(Hook):
    """Sleeps after iteration `iteration` (after its checkpoint) until the test kills us."""

    def __init__(self, iteration):
        self.iteration = iteration

    def after_train_iter(self, runner):
        if runner.iter + 1 == self.iteration:
            time.sleep(600)
'''


def logged_losses(work_dir):
    """{iteration: {loss name: value}} of the newest .log.json in `work_dir`."""
    newest = sorted(glob.glob(osp.join(work_dir, '*.log.json')))[-1]
    with open(newest) as f:
        rows = [json.loads(line) for line in f if '"mode": "train"' in line]
    return {row['iter']: {k: v for k, v in row.items() if 'loss' in k} for row in rows}


def same(a, b, device):
    """Bit-identical on the CPU; on CUDA up to the float summation order of its
    non-deterministic kernels (bilinear interpolation backward, atomics), which Adam's
    normalised steps of size ~lr turn into differences of at most a few lr."""
    if device == 'cpu' or not a.is_floating_point():
        return torch.equal(a, b)
    return torch.allclose(a.float(), b.float(), rtol=1e-4, atol=5e-4)


@pytest.mark.slow
def test_sigkill_then_auto_resume_matches_uninterrupted_run(demo_data, tmp_path, device):
    options = demo_options(demo_data, max_iters=N, interval=N // 2, workers=1)
    straight_dir, killed_dir = tmp_path / 'straight', tmp_path / 'killed'
    (tmp_path / 'stall_hook.py').write_text(STALL_HOOK)
    stall_cfg = tmp_path / 'stall_cfg.py'
    stall_cfg.write_text(f'_base_ = [{CONFIG!r}]\n'
                         "custom_imports = dict(imports=['stall_hook'])\n"
                         f"custom_hooks = [dict(type='StallAfter', iteration={N // 2}, "
                         "priority='LOW')]\n")
    env = subprocess_env(tmp_path)
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    logs = {name: open(tmp_path / f'{name}.out', 'w') for name in ('straight', 'killed')}
    straight = subprocess.Popen(train_command(CONFIG, '--work-dir', straight_dir,
                                              '--no-validate', *options),
                                env=env, stdout=logs['straight'], stderr=subprocess.STDOUT)
    killed = subprocess.Popen(train_command(stall_cfg, '--work-dir', killed_dir,
                                            '--no-validate', *options),
                              env=env, stdout=logs['killed'], stderr=subprocess.STDOUT)
    half = killed_dir / f'iter_{N // 2}.pth'
    deadline = time.time() + 300
    while not half.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL, (tmp_path / 'killed.out').read_text()[-3000:]
    assert not (killed_dir / f'iter_{N}.pth').exists()

    resumed = subprocess.run(train_command(CONFIG, '--work-dir', killed_dir, '--auto-resume',
                                           '--no-validate', *options),
                             env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f'resumed from {half} at iteration {N // 2}' in resumed.stderr + resumed.stdout
    assert straight.wait() == 0, (tmp_path / 'straight.out').read_text()[-3000:]

    a = torch.load(straight_dir / f'iter_{N}.pth', weights_only=True)
    b = torch.load(killed_dir / f'iter_{N}.pth', weights_only=True)
    assert a['meta']['iter'] == b['meta']['iter'] == N
    assert a['train_state']['local_iter'] == b['train_state']['local_iter'] == N
    groups = {'student': 'model.', 'teacher': 'ema_model.', 'prototypes': 'proto_memory.'}
    for name, prefix in groups.items():
        keys = [k for k in a['state_dict'] if k.startswith(prefix)]
        assert keys, name
        different = [k for k in keys
                     if not same(a['state_dict'][k], b['state_dict'][k], device)]
        # The teacher's BatchNorm running statistics (updated by its train-mode no-grad
        # forward, as in MIC) were seen to differ in the last bits on one CPU (<= 2.4e-7, in
        # the DAFormer fusion's BNs) while every parameter and loss stayed bit-identical; not
        # understood yet, so only they get a float-rounding tolerance.
        rounding = [k for k in different if name == 'teacher'
                    and k.endswith(('.running_mean', '.running_var'))
                    and torch.allclose(a['state_dict'][k], b['state_dict'][k], rtol=1e-5,
                                       atol=1e-6)]
        assert not set(different) - set(rounding), f'{name} differs: {different[:5]}'
    # By parameter index: the order of the entries is the order their state was created in.
    assert a['optimizer']['state'].keys() == b['optimizer']['state'].keys()
    for index, sa in a['optimizer']['state'].items():
        sb = b['optimizer']['state'][index]
        assert all(same(sa[k], sb[k], device) for k in sa), index
    straight_losses, resumed_losses = logged_losses(straight_dir), logged_losses(killed_dir)
    assert sorted(resumed_losses) == list(range(N // 2 + 1, N + 1))
    for it, losses in resumed_losses.items():
        if device == 'cpu':
            assert losses == straight_losses[it], it
        else:
            assert losses == pytest.approx(straight_losses[it], rel=1e-3, abs=1e-4), it
