"""SIGTERM/SIGUSR1 (a scheduler's preemption or time limit) end a run after the iteration under
way with a resumable checkpoint and exit status 75; --auto-resume then finishes the run as if it
had never stopped."""
import multiprocessing
import os
import re
import signal
import subprocess
import time

import pytest
import torch
from mmcv.runner import HOOKS, Hook

from mmseg.core.runner.checkpoint_files import is_complete_checkpoint
from mmseg.core.runner.preemption import Preempted, PreemptionWatch, ignore_preemption_signals
from tools.train import main as train_main

from runner_helpers import (CONFIG, assert_same_training_state, demo_options, free_port,
                            slurm_env, subprocess_env, train_command)

N = 6
STOPPED = re.compile(r'^(SIG\w+) received: stopped after iteration (\d+), checkpoint (\S+); '
                     r'run the same command with --auto-resume to continue\.$', re.M)


@HOOKS.register_module(force=True)
class SignalSelf(Hook):
    """Sends `signum` to this process during iteration `iteration` (after the checkpoint hook)."""

    def __init__(self, iteration, signum):
        self.iteration = iteration
        self.signum = signum

    def after_train_iter(self, runner):
        if runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), self.signum)


def wait_for_log(path, text, processes):
    """Until `text` is in the file `path`; fails if a process ends first (or after 5 min)."""
    deadline = time.time() + 300
    while text not in path.read_text():
        assert time.time() < deadline and all(p.poll() is None for p in processes), \
            path.read_text()[-3000:]
        time.sleep(0.1)


def stopped_iteration(output, signal_name, work_dir):
    """The iteration of the one-line preemption message in `output` (its checkpoint checked)."""
    match = STOPPED.search(output)
    assert match, output[-3000:]
    name, iteration, checkpoint = match.group(1), int(match.group(2)), match.group(3)
    assert (name, checkpoint) == (signal_name, str(work_dir / f'iter_{iteration}.pth'))
    assert is_complete_checkpoint(checkpoint)
    return iteration


def signalled_config(tmp_path, iteration, signum, **overrides):
    """The demo config, whose run signals itself during `iteration`."""
    cfg = tmp_path / 'signalled.py'
    hook = dict(type='SignalSelf', iteration=iteration, signum=int(signum))
    cfg.write_text('\n'.join([f'_base_ = [{CONFIG!r}]', f'custom_hooks = [{hook!r}]',
                              *(f'{k} = {v!r}' for k, v in overrides.items())]) + '\n')
    return cfg


@pytest.mark.slow
def test_sigterm_writes_a_resumable_checkpoint_and_exits_75(demo_data, tmp_path, started):
    """SIGTERM to the whole process group (main process and DataLoader worker, as SLURM does)
    mid-run; the resumed run ends with the checkpoint of an uninterrupted one."""
    options = demo_options(demo_data, max_iters=N, interval=100, workers=1)
    straight_dir, stopped_dir = tmp_path / 'straight', tmp_path / 'stopped'
    env = subprocess_env()
    with open(tmp_path / 'straight.out', 'w') as out:
        straight = subprocess.Popen(train_command(CONFIG, '--work-dir', straight_dir,
                                                  '--no-validate', *options),
                                    env=env, stdout=out, stderr=subprocess.STDOUT)
    started.append(straight)
    stopped_out = tmp_path / 'stopped.out'
    with open(stopped_out, 'w') as out:
        stopped = subprocess.Popen(train_command(CONFIG, '--work-dir', stopped_dir,
                                                 '--no-validate', *options),
                                   env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    started.append(stopped)
    wait_for_log(stopped_out, f'Iter [1/{N}]', [stopped])
    os.killpg(stopped.pid, signal.SIGTERM)
    assert stopped.wait() == 75, stopped_out.read_text()[-3000:]
    k = stopped_iteration(stopped_out.read_text(), 'SIGTERM', stopped_dir)
    assert 1 <= k < N
    assert not (stopped_dir / f'iter_{N}.pth').exists()
    assert os.readlink(stopped_dir / 'latest.pth') == f'iter_{k}.pth'
    assert 'run summary' in stopped_out.read_text()  # the after-run hooks ran

    resumed = subprocess.run(train_command(CONFIG, '--work-dir', stopped_dir, '--auto-resume',
                                           '--no-validate', *options),
                             env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f'resumed from {stopped_dir}/iter_{k}.pth at iteration {k}' in resumed.stderr
    assert straight.wait() == 0, (tmp_path / 'straight.out').read_text()[-3000:]
    assert_same_training_state(torch.load(straight_dir / f'iter_{N}.pth', weights_only=True),
                               torch.load(stopped_dir / f'iter_{N}.pth', weights_only=True))


@pytest.mark.slow
def test_sigusr1_stops_two_slurm_tasks_at_the_same_iteration(demo_data, tmp_path, started):
    """SLURM's `--signal=USR1@...` reaches every task (here: one process group of both); they
    save one checkpoint together."""
    work_dir, port = tmp_path / 'work', free_port()
    command = train_command(CONFIG, '--launcher', 'slurm', '--work-dir', work_dir,
                            '--no-validate', *demo_options(demo_data, max_iters=N, interval=100,
                                                           **{'data.samples_per_gpu': 1}))
    outs = [tmp_path / f'task{rank}.out' for rank in range(2)]
    tasks = []
    for rank, path in enumerate(outs):
        with open(path, 'w') as out:
            tasks.append(subprocess.Popen(
                command, env=slurm_env(rank, 2, port), stdout=out,
                stderr=subprocess.STDOUT, process_group=tasks[0].pid if tasks else 0))
        started.append(tasks[-1])
    wait_for_log(outs[0], f'Iter [1/{N}]', tasks)
    os.killpg(tasks[0].pid, signal.SIGUSR1)
    assert [task.wait() for task in tasks] == [75, 75], outs[0].read_text()[-3000:]
    k0, k1 = (stopped_iteration(path.read_text(), 'SIGUSR1', work_dir) for path in outs)
    assert k0 == k1 < N
    checkpoint = torch.load(work_dir / f'iter_{k0}.pth', weights_only=True)
    assert checkpoint['meta']['iter'] == k0 and len(checkpoint['rng']) == 2


@pytest.mark.slow
def test_signal_in_a_checkpoint_iteration_saves_once(demo_data, tmp_path, caplog):
    cfg = signalled_config(tmp_path, 2, signal.SIGUSR1)
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(Preempted) as stop:
        train_main([str(cfg), '--work-dir', str(tmp_path / 'work'), '--no-validate',
                    *demo_options(demo_data, max_iters=4, interval=2)])
    assert (stop.value.signal_name, stop.value.iteration) == ('SIGUSR1', 2)
    assert stop.value.checkpoint == str(tmp_path / 'work' / 'iter_2.pth')
    assert caplog.text.count('Saving checkpoint at 2 iterations') == 1
    assert signal.getsignal(signal.SIGUSR1) is before


@pytest.mark.slow
def test_without_checkpoint_hook_the_work_dir_gets_the_checkpoint(demo_data, tmp_path):
    cfg = signalled_config(tmp_path, 1, signal.SIGTERM, checkpoint_config=None)
    options = [o for o in demo_options(demo_data, max_iters=2) if 'checkpoint_config' not in o]
    with pytest.raises(Preempted) as stop:
        train_main([str(cfg), '--work-dir', str(tmp_path / 'work'), '--no-validate', *options])
    assert stop.value.checkpoint == str(tmp_path / 'work' / 'iter_1.pth')
    checkpoint = torch.load(stop.value.checkpoint, weights_only=True)
    assert checkpoint['meta']['iter'] == 1 and len(checkpoint['rng']) == 1


def test_watch_records_the_first_signal_and_restores_the_handlers():
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1)}
    with PreemptionWatch() as watch:
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGTERM)
        assert watch.received == signal.SIGUSR1
    assert {s: signal.getsignal(s) for s in before} == before


def idle_worker(connection):
    """A DataLoader worker's life: set up by the worker_init_fn, then answer until ended."""
    ignore_preemption_signals(0)
    while True:
        connection.send(connection.recv())


def test_worker_ignores_others_sigterm_and_sigusr1_but_ends_on_its_parents():
    context = multiprocessing.get_context('fork')
    here, there = context.Pipe()
    worker = context.Process(target=idle_worker, args=(there,), daemon=True)
    worker.start()
    here.send('set up')
    assert here.recv() == 'set up'
    subprocess.run(['kill', '-TERM', str(worker.pid)], check=True)  # not from its parent
    subprocess.run(['kill', '-USR1', str(worker.pid)], check=True)
    here.send('alive')
    assert here.recv() == 'alive'
    worker.terminate()  # the parent's SIGTERM, as DataLoader and multiprocessing send it
    worker.join(timeout=60)
    assert worker.exitcode == 0
