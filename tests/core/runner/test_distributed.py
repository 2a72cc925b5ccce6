"""Two CPU processes (gloo, torchrun): identical teacher and prototypes, files from rank 0 only."""
import subprocess
import sys

import pytest
import torch

from runner_helpers import CONFIG, TRAIN, demo_options, free_port, subprocess_env

DUMP_HOOK = '''
import logging
import os

import torch
from mmcv.runner import HOOKS, Hook, get_dist_info


@HOOKS.register_module()
class DumpRankState(Hook):
    """After the run, every process saves its model state (outside the work dir)."""

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def after_run(self, runner):
        rank, _ = get_dist_info()
        model = runner.model.module
        logger = logging.getLogger('mmseg')
        torch.save(dict(
            params={k: v.detach() for k, v in model.named_parameters()},
            buffers={k: v for k, v in model.named_buffers()},
            file_logging=any(isinstance(h, logging.FileHandler) for h in logger.handlers)),
            os.path.join(self.out_dir, f'rank{rank}.pt'))
'''


@pytest.mark.slow
def test_two_gloo_processes_keep_teacher_and_prototypes_identical(demo_data, tmp_path):
    (tmp_path / 'dump_hook.py').write_text(DUMP_HOOK)
    dumps = tmp_path / 'dumps'
    dumps.mkdir()
    cfg = tmp_path / 'dist_cfg.py'
    cfg.write_text(f'_base_ = [{CONFIG!r}]\n'
                   "custom_imports = dict(imports=['dump_hook'])\n"
                   f"custom_hooks = [dict(type='DumpRankState', out_dir={str(dumps)!r})]\n"
                   "dist_params = dict(backend='gloo')\n")
    work_dir = tmp_path / 'work'
    done = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=2',
         f'--master_port={free_port()}', TRAIN, str(cfg), '--launcher', 'pytorch',
         '--work-dir', str(work_dir), '--no-validate',
         *demo_options(demo_data, max_iters=2, interval=2, **{'data.samples_per_gpu': 1})],
        env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    rank0, rank1 = (torch.load(dumps / f'rank{r}.pt', weights_only=True) for r in (0, 1))
    for prefix in ('model.', 'ema_model.'):  # student and EMA teacher
        keys = [k for k in rank0['params'] if k.startswith(prefix)]
        assert keys
        assert all(torch.equal(rank0['params'][k], rank1['params'][k]) for k in keys), prefix
    for key in ('proto_memory.prototypes', 'proto_memory.initialized'):
        assert torch.equal(rank0['buffers'][key], rank1['buffers'][key]), key
    assert bool(rank0['buffers']['proto_memory.initialized'].any())
    # Each process loaded its own samples: the BN statistics (local, not synchronised) differ.
    stats = [k for k in rank0['buffers'] if k.startswith('model.') and k.endswith('running_mean')]
    assert any(not torch.equal(rank0['buffers'][k], rank1['buffers'][k]) for k in stats)
    assert rank0['file_logging'] and not rank1['file_logging']
    names = sorted(p.name for p in work_dir.iterdir())
    assert names == sorted(['dist_cfg.py', 'iter_2.pth', 'latest.pth', 'tf_logs']
                           + [n for n in names if n.endswith(('.log', '.log.json'))])
    assert len([n for n in names if n.endswith('.log')]) == 1
    ckpt = torch.load(work_dir / 'iter_2.pth', weights_only=True)
    assert len(ckpt['rng']) == 2 and ckpt['meta']['world_size'] == 2
