"""Start the process group for `--launcher pytorch | slurm | mpi`, on GPUs and on CPU alike.

Each launcher's variables are translated into those of torch's `env://` rendezvous (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). mmcv's `init_dist` is not used: its
pytorch and slurm paths select the GPU as `rank % device_count()`, a division by zero on CPU,
and its slurm path needs `scontrol`.
"""
import os
import re
import shutil
import subprocess
from typing import Dict, Optional

import torch
import torch.distributed as dist

from ...utils.errors import UserError

DEFAULT_PORT = 29500  # torch.distributed's default
# What each launcher sets: torch's variable -> the launcher's.
RANK_VARIABLES: Dict[str, Dict[str, str]] = {
    'pytorch': dict(RANK='RANK', WORLD_SIZE='WORLD_SIZE', LOCAL_RANK='LOCAL_RANK'),
    'slurm': dict(RANK='SLURM_PROCID', WORLD_SIZE='SLURM_NTASKS', LOCAL_RANK='SLURM_LOCALID'),
    'mpi': dict(RANK='OMPI_COMM_WORLD_RANK', WORLD_SIZE='OMPI_COMM_WORLD_SIZE',
                LOCAL_RANK='OMPI_COMM_WORLD_LOCAL_RANK'),
}
STARTED_BY = {'pytorch': 'torchrun', 'slurm': 'srun (see tools/slurm_train.sh)',
              'mpi': 'mpirun'}


def local_rank() -> int:
    """This process's index on its node (LOCAL_RANK, set by every launcher here; default 0)."""
    return int(os.environ.get('LOCAL_RANK', 0))


def require_env(name: str, launcher: str) -> str:
    try:
        return os.environ[name]
    except KeyError:
        raise UserError(f'--launcher {launcher}: the environment variable {name} is not set '
                        f'(is the program started by {STARTED_BY[launcher]}?).') from None


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list, without scontrol: `node[01-04,07],gpu3` -> `node01`.

    The first comma-separated item outside brackets, with each bracket replaced by the start of
    its first range (zero padding kept).
    """
    item = re.match(r'(?:[^,\[]|\[[^\]]*\])+', nodelist.strip())
    if item is None:
        raise UserError(f'SLURM_NODELIST={nodelist!r} names no host.')
    return re.sub(r'\[([^\]]*)\]', lambda m: re.split(r'[,-]', m.group(1))[0], item.group(0))


def slurm_master_addr(nodelist: str) -> str:
    """The first host of the job: `scontrol show hostnames` where it works, else `first_host`."""
    if shutil.which('scontrol'):
        done = subprocess.run(['scontrol', 'show', 'hostnames', nodelist],
                              capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.split():
            return done.stdout.split()[0]
    return first_host(nodelist)


def set_rendezvous_env(launcher: str, port: Optional[int] = None) -> None:
    """Translate the launcher's variables into torch's; MASTER_ADDR/MASTER_PORT already in the
    environment win (as in mmcv), except that `dist_params.port` sets the port."""
    for torch_name, name in RANK_VARIABLES[launcher].items():
        os.environ[torch_name] = require_env(name, launcher)
    if launcher == 'slurm' and 'MASTER_ADDR' not in os.environ:
        os.environ['MASTER_ADDR'] = slurm_master_addr(require_env('SLURM_NODELIST', launcher))
    require_env('MASTER_ADDR', launcher)  # mpirun: the user's
    if launcher == 'pytorch':  # torchrun's port is that of its own rendezvous
        require_env('MASTER_PORT', launcher)
        return
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', str(DEFAULT_PORT))


def init_distributed(launcher: str, dist_params: dict) -> None:
    """Join the process group of `launcher` ('pytorch', 'slurm' or 'mpi').

    `dist_params` is the config's: `backend` (default nccl with CUDA, else gloo; nccl, the
    configs' setting, becomes gloo on a machine without CUDA) and, for slurm and mpi, `port`.
    With CUDA, the process's GPU is selected before the group starts (nccl binds to it).
    """
    if launcher not in RANK_VARIABLES:
        raise UserError(f'unknown launcher {launcher!r}; use one of {sorted(RANK_VARIABLES)}.')
    set_rendezvous_env(launcher, dist_params.get('port'))
    cuda = torch.cuda.is_available()
    backend = dist_params.get('backend') or ('nccl' if cuda else 'gloo')
    if backend == 'nccl' and not cuda:
        backend = 'gloo'
    if cuda:
        count = torch.cuda.device_count()
        if local_rank() >= count:
            raise UserError(f'--launcher {launcher}: local rank {local_rank()}, but only {count} '
                            'GPU(s) are visible; start one process per visible GPU.')
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend, init_method='env://')
