"""`--launcher slurm | mpi | pytorch`: the launchers' variables become torch's, on CPU too."""
import os
import os.path as osp
import subprocess

import pytest
import torch

from mmseg.core.runner import launch
from mmseg.utils.errors import UserError

from runner_helpers import (CONFIG, REPO, TORCH_VARIABLES, demo_options, free_port,
                            slurm_env, train_command)


@pytest.fixture
def environ(monkeypatch):
    """A private os.environ without launcher variables, restored after the test."""
    env = {k: v for k, v in os.environ.items()
           if k not in TORCH_VARIABLES and not k.startswith(('SLURM_', 'OMPI_'))}
    monkeypatch.setattr(os, 'environ', env)
    monkeypatch.setattr(launch.shutil, 'which', lambda name: None)  # no scontrol
    return env


@pytest.mark.parametrize('nodelist, host', [
    ('node[01-04,07],gpu3', 'node01'), ('localhost', 'localhost'), ('gpu3,node[1-2]', 'gpu3'),
    ('node[7]', 'node7'), ('rack[2-3]-n[005,007]', 'rack2-n005')])
def test_first_host_of_a_compressed_slurm_nodelist(nodelist, host):
    assert launch.first_host(nodelist) == host


def test_slurm_variables_become_torch_variables(environ):
    environ.update(SLURM_PROCID='5', SLURM_NTASKS='8', SLURM_LOCALID='1',
                   SLURM_NODELIST='gpu[12-13]')
    launch.set_rendezvous_env('slurm')
    assert {k: environ[k] for k in TORCH_VARIABLES} == dict(
        RANK='5', WORLD_SIZE='8', LOCAL_RANK='1', MASTER_ADDR='gpu12', MASTER_PORT='29500')
    assert launch.local_rank() == 1


def test_environment_address_wins_and_dist_params_port_wins(environ):
    environ.update(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_LOCALID='0',
                   SLURM_NODELIST='gpu[12-13]', MASTER_ADDR='10.0.0.1', MASTER_PORT='1234')
    launch.set_rendezvous_env('slurm', port=4321)
    assert (environ['MASTER_ADDR'], environ['MASTER_PORT']) == ('10.0.0.1', '4321')


def test_mpi_variables_become_torch_variables(environ):
    environ.update(OMPI_COMM_WORLD_RANK='3', OMPI_COMM_WORLD_SIZE='4',
                   OMPI_COMM_WORLD_LOCAL_RANK='1', MASTER_ADDR='head')
    launch.set_rendezvous_env('mpi')
    assert {k: environ[k] for k in TORCH_VARIABLES} == dict(
        RANK='3', WORLD_SIZE='4', LOCAL_RANK='1', MASTER_ADDR='head', MASTER_PORT='29500')


@pytest.mark.parametrize('launcher, missing, given', [
    ('slurm', 'SLURM_NTASKS', dict(SLURM_PROCID='0')),
    ('slurm', 'SLURM_NODELIST', dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_LOCALID='0')),
    ('mpi', 'MASTER_ADDR', dict(OMPI_COMM_WORLD_RANK='0', OMPI_COMM_WORLD_SIZE='1',
                                OMPI_COMM_WORLD_LOCAL_RANK='0')),
    ('pytorch', 'RANK', {})])
def test_missing_launcher_variable_is_named(environ, launcher, missing, given):
    environ.update(given)
    with pytest.raises(UserError, match=rf'--launcher {launcher}: the environment variable '
                                        rf'{missing} is not set'):
        launch.init_distributed(launcher, {})
    assert not torch.distributed.is_initialized()


@pytest.mark.slow
def test_two_slurm_tasks_on_cpu_train_and_exit_0(demo_data, tmp_path, started):
    """Two tasks as srun starts them on one node; the configs' nccl backend becomes gloo."""
    work_dir, port = tmp_path / 'work', free_port()
    command = train_command(CONFIG, '--launcher', 'slurm', '--work-dir', work_dir,
                            '--no-validate', *demo_options(demo_data, max_iters=2, interval=2,
                                                           **{'data.samples_per_gpu': 1}))
    tasks = [subprocess.Popen(command, env=slurm_env(rank, 2, port), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for rank in range(2)]
    started.extend(tasks)
    outputs = [task.communicate(timeout=300)[0] for task in tasks]
    assert [task.returncode for task in tasks] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    checkpoint = torch.load(work_dir / 'iter_2.pth', weights_only=True)
    assert checkpoint['meta']['world_size'] == 2 and len(checkpoint['rng']) == 2


def test_slurm_train_script_asks_for_the_signal_and_passes_exit_status_75_on(tmp_path):
    """tools/slurm_train.sh with a stand-in srun that records its arguments and exits 75."""
    (tmp_path / 'srun').write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SRUN_LOG"\nexit 75\n')
    (tmp_path / 'srun').chmod(0o755)
    env = dict(os.environ, PATH=f'{tmp_path}{os.pathsep}{os.environ["PATH"]}',
               SRUN_LOG=str(tmp_path / 'srun.log'), GPUS='16', GPUS_PER_NODE='8')
    done = subprocess.run(['bash', osp.join(REPO, 'tools', 'slurm_train.sh'), 'gpu', 'job',
                           'cfg.py', '--work-dir', 'a dir'], env=env, capture_output=True)
    assert done.returncode == 75
    args = (tmp_path / 'srun.log').read_text().splitlines()
    assert args[:2] == ['-p', 'gpu'] and '--ntasks=16' in args and '--ntasks-per-node=8' in args
    assert '--kill-on-bad-exit=1' in args and '--signal=USR1@120' in args
    assert args[args.index('python'):] == ['python', '-u', 'tools/train.py', 'cfg.py',
                                           '--launcher', 'slurm', '--auto-resume',
                                           '--work-dir', 'a dir']
