"""The user's path on each device: train -> checkpoint -> resume -> test -> infer.

Every entry point runs as a subprocess with mmcv's scatter made to fail: with torch 2.x it
crashes on CUDA (it hands torch an int where a device is read), so nothing may go through it,
on the CPU either. `pytest -m cuda` runs the same tests on a GPU.
"""
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from runner_helpers import CONFIG, REPO, TRAIN, demo_options, subprocess_env

pytestmark = pytest.mark.slow
NO_MMCV_SCATTER = '''
import runpy
import sys

import mmcv.parallel._functions as functions
import mmcv.parallel.scatter_gather as scatter_gather


def refuse(*args, **kwargs):
    raise RuntimeError('mmcv scatter was called')


functions.Scatter.forward = staticmethod(refuse)
scatter_gather.scatter = refuse
sys.argv = sys.argv[1:]
if sys.argv[0] == '-m':
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)
else:
    runpy.run_path(sys.argv[0], run_name='__main__')
'''


def run_guarded(tmp_path, device, *args, launcher=(), timeout=300):
    """`python [LAUNCHER] GUARD ARGS` on `device` (CPU: no GPU visible), with the guard
    refusing mmcv's scatter in every process that runs ARGS."""
    guard = tmp_path / 'no_mmcv_scatter.py'
    guard.write_text(NO_MMCV_SCATTER)
    env = subprocess_env()
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    done = subprocess.run([sys.executable, *launcher, str(guard), *map(str, args)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'mmcv scatter was called' not in done.stderr
    return done


@pytest.fixture(scope='module', params=[
    'cpu', pytest.param('cuda', marks=[pytest.mark.cuda, pytest.mark.skipif(
        not torch.cuda.is_available(), reason='needs a CUDA GPU')])])
def device(request):
    """The device of the module's run (module scope: one training run per device)."""
    return request.param


@pytest.fixture(scope='module')
def trained(demo_data, tmp_path_factory, device):
    """2 iterations with a checkpoint and an evaluation at iteration 2, on `device`."""
    tmp_path = tmp_path_factory.mktemp(f'trained_{device}')
    work_dir = tmp_path / 'work'
    done = run_guarded(tmp_path, device, TRAIN, CONFIG, '--work-dir', work_dir,
                       *demo_options(demo_data, max_iters=2, interval=2,
                                     **{'evaluation.interval': 2}))
    assert f'Training on {device}' in done.stderr
    return work_dir


def test_training_on_the_device_checkpoints_evaluates_and_resumes(trained, demo_data, tmp_path,
                                                                  device):
    assert (trained / 'iter_2.pth').is_file()
    assert any('mIoU' in line for log in trained.glob('*.log.json')
               for line in log.read_text().splitlines())
    ckpt = torch.load(trained / 'iter_2.pth', weights_only=True)
    assert all(v.device.type == 'cpu' for v in ckpt['state_dict'].values())
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])
    assert ckpt['rng'][0].get('cuda') is None if device == 'cpu' else \
        ckpt['rng'][0]['cuda'].dtype == torch.uint8

    resumed = tmp_path / 'resumed'
    run_guarded(tmp_path, device, TRAIN, CONFIG, '--work-dir', resumed, '--resume-from',
                trained / 'iter_2.pth', *demo_options(demo_data, max_iters=3, interval=3))
    assert torch.load(resumed / 'iter_3.pth', weights_only=True)['meta']['iter'] == 3


def test_tools_test_and_infer_score_and_segment_on_the_device(trained, demo_data, tmp_path,
                                                              device):
    config, ckpt = trained / 'pcpr_synthetic.py', trained / 'iter_2.pth'
    done = run_guarded(tmp_path, device, '-m', 'tools.test', config, ckpt, '--eval', 'mIoU')
    assert 'mIoU' in done.stdout

    images = demo_data / 'cityscapes' / 'leftImg8bit' / 'val'
    preds = {}
    for where in {device, 'cpu'}:
        out = tmp_path / f'infer_{where}'
        run_guarded(tmp_path, where, '-m', 'tools.infer', config, ckpt, images, '--out', out,
                    '--device', where)
        preds[where] = [np.asarray(Image.open(p)) for p in sorted(out.rglob('*_pred.png'))]
    assert len(preds[device]) == 1
    agreement = np.mean([np.mean(a == b) for a, b in zip(preds[device], preds['cpu'])])
    assert agreement >= 0.99


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_distributed_tools_test_scores_like_the_single_process_one(trained, tmp_path, device):
    """mmcv's distributed wrapper reads attributes torch 2.x no longer has; the test loop must
    not go through it."""
    config, ckpt = trained / 'pcpr_synthetic.py', trained / 'iter_2.pth'
    processes = 2 if device == 'cpu' else 1
    single = run_guarded(tmp_path, device, '-m', 'tools.test', config, ckpt, '--eval', 'mIoU')
    torchrun = ('-m', 'torch.distributed.run', '--nnodes=1', f'--nproc_per_node={processes}',
                f'--master_port={free_port()}')
    many = run_guarded(tmp_path, device, os.path.join(REPO, 'tools', 'test.py'), config, ckpt,
                       '--eval', 'mIoU', '--launcher', 'pytorch', '--tmpdir',
                       tmp_path / 'collect', launcher=torchrun)
    assert single.stdout.strip().splitlines()[-1] == many.stdout.strip().splitlines()[-1]


def test_a_gpu_checkpoint_resumes_on_the_cpu(trained, demo_data, tmp_path, device):
    if device != 'cuda':
        pytest.skip('resumes a checkpoint written on a GPU')
    resumed = tmp_path / 'on_cpu'
    done = run_guarded(tmp_path, 'cpu', TRAIN, CONFIG, '--work-dir', resumed, '--resume-from',
                       trained / 'iter_2.pth', *demo_options(demo_data, max_iters=3, interval=3))
    assert 'Training on cpu' in done.stderr
    assert (resumed / 'iter_3.pth').is_file()
