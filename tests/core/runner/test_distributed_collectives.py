"""Collectives of distributed training, run in two gloo processes on the CPU.

Each test starts two processes with `torch.multiprocessing`; a process reports a failure by
raising, which is re-raised here.
"""
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from mmseg.core.runner.checkpoint_hook import SafeCheckpointHook
from mmseg.core.runner.distributed import average_gradients
from mmseg.models.uda.uda_decorator import UDADecorator

pytestmark = pytest.mark.slow
TINY_SEGMENTOR = dict(
    type='EncoderDecoder', backbone=dict(type='mit_b0'),
    decode_head=dict(type='SegFormerHead', in_channels=[32, 64, 160, 256], in_index=[0, 1, 2, 3],
                     feature_strides=[4, 8, 16, 32], channels=16, num_classes=19,
                     norm_cfg=dict(type='BN', requires_grad=True), align_corners=False,
                     decoder_params=dict(embed_dim=16, conv_kernel_size=1)))


def run_in_two_processes(fn, tmp_path, *args):
    # Spawned, not forked: a fork inherits whatever earlier tests left in this process.
    mp.spawn(_init_and_run, args=(fn, str(tmp_path / 'rendezvous'), args), nprocs=2)


def _init_and_run(rank, fn, rendezvous, args):
    dist.init_process_group('gloo', init_method=f'file://{rendezvous}', rank=rank,
                            world_size=2)
    try:
        fn(rank, *args)
    finally:
        dist.destroy_process_group()


def _check_gradient_average(rank):
    params = [nn.Parameter(torch.zeros(2)) for _ in range(3)]
    params[0].grad = torch.full((2,), float(rank + 1))   # both processes
    if rank == 0:
        params[1].grad = torch.full((2,), 4.0)           # one process only: counts as 0 there
    ok = average_gradients(params, torch.tensor(rank == 0))
    assert params[0].grad.tolist() == [1.5, 1.5]
    assert params[1].grad.tolist() == [2.0, 2.0]
    assert params[2].grad is None                        # no process: no gradient, no step
    assert not bool(ok)                                  # one bad process: bad everywhere


def test_gradients_average_with_the_same_layout_whatever_each_process_computed(tmp_path):
    """A loss term without samples in one process (no prototype anchors there) leaves some
    gradients unset in that process only; both must still reduce buffers of equal size."""
    run_in_two_processes(_check_gradient_average, tmp_path)


class OverflowingUDA(UDADecorator):
    """A UDA model whose fp16-scaled gradient overflows in process 1 only."""

    def forward_train(self, img, img_metas, gt_semantic_seg, **kwargs):
        weight = next(self.get_model().parameters())
        # Value 0 (finite), gradient 1e38 x the fp16 loss scale = inf in process 1.
        loss = (weight - weight.detach()).sum() * (1e38 if self.rank == 1 else 1.0)
        self.backward(loss)
        return dict(loss_fake=loss.detach())


def _check_fp16_overflow_backs_off(rank):
    model = OverflowingUDA(TINY_SEGMENTOR, max_iters=1, mixed_precision='fp16')
    model.rank, model.skip_nonfinite = rank, True
    assert model.grad_scaler.is_enabled()
    scale = model.grad_scaler.get_scale()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    out = model.train_step(dict(img=None, img_metas=[{}], gt_semantic_seg=None), optimizer)
    assert not out.get('nonfinite'), 'an fp16 overflow is the grad scaler\'s to skip'
    assert model.grad_scaler.get_scale() == scale * 0.5, 'the scale must back off'


def test_fp16_gradient_overflow_in_one_process_backs_the_scale_off_instead_of_failing(tmp_path):
    """Counting a scaled overflow as a non-finite step skipped it before `update()`: the scale
    never shrank and the run stopped after `max_consecutive` steps."""
    run_in_two_processes(_check_fp16_overflow_backs_off, tmp_path)


class BufferModule(nn.Module):
    def __init__(self, rank):
        super().__init__()
        self.register_buffer('running_mean', torch.full((2,), float(rank)))
        self.register_buffer('num_batches_tracked', torch.tensor(5 + rank))
        self.register_buffer('initialized', torch.tensor([True, rank == 0]))


def _check_checkpoint_buffer_sync(rank):
    saved = []
    model = BufferModule(rank)
    runner = SimpleNamespace(
        model=model, iter=0, max_iters=10, rank=rank, step_rng_state={}, meta={},
        logger=logging.getLogger('test'), work_dir='unused',
        save_checkpoint=lambda out_dir, **kwargs: saved.append(out_dir) or 'iter_1.pth')
    hook = SafeCheckpointHook(interval=1, by_epoch=False, sync_buffer=True, out_dir='unused',
                              max_keep_ckpts=-1)
    hook.after_train_iter(runner)
    assert model.running_mean.tolist() == [0.5, 0.5]          # averaged
    assert model.num_batches_tracked.item() == 5              # process 0's, not 11 // 2
    assert model.initialized.tolist() == [True, True]         # process 0's
    assert saved == (['unused'] if rank == 0 else [])


def test_checkpoint_sync_buffer_averages_floats_and_copies_counters_and_flags(tmp_path):
    run_in_two_processes(_check_checkpoint_buffer_sync, tmp_path)
