"""Killing a run after its mid-way checkpoint and resuming it gives the uninterrupted result."""
import signal
import subprocess
import time

import pytest
import torch

from runner_helpers import (CONFIG, assert_same_training_state, demo_options, logged_losses,
                            subprocess_env, train_command)

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
    assert a['meta']['iter'] == N and a['train_state']['local_iter'] == N
    assert_same_training_state(a, b, device)
    straight_losses, resumed_losses = logged_losses(straight_dir), logged_losses(killed_dir)
    assert sorted(resumed_losses) == list(range(N // 2 + 1, N + 1))
    for it, losses in resumed_losses.items():
        if device == 'cpu':
            assert losses == straight_losses[it], it
        else:
            assert losses == pytest.approx(straight_losses[it], rel=1e-3, abs=1e-4), it
