"""Base of the UDA methods: wraps a segmentor and does its own optimizer step (as MIC)."""
from contextlib import nullcontext
from copy import deepcopy

import torch
import torch.distributed as dist
from mmcv.runner import BaseModule

from ..builder import build_segmentor

MIXED_PRECISION_DTYPES = {None: None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def get_module(module):
    """Unwrap a (distributed) data-parallel wrapper."""
    return module.module if hasattr(module, 'module') else module


def parse_losses(losses):
    """Sum the entries whose key contains 'loss'; keep every scalar for the log.

    Unlike MMSeg/MIC, the log values stay tensors here (no `.item()` per entry), so a training
    step syncs with the GPU once, in `UDADecorator.train_step`, instead of once per loss term.

    Returns:
        (loss, log_vars): the scalar to back-propagate and a dict of detached scalar tensors.
    """
    log_vars = {}
    for name, value in losses.items():
        if isinstance(value, torch.Tensor):
            log_vars[name] = value.mean()
        elif isinstance(value, list):
            log_vars[name] = sum(v.mean() for v in value)
        else:
            raise TypeError(f'{name} is not a tensor or list of tensors')
    loss = sum(v for k, v in log_vars.items() if 'loss' in k)
    log_vars = {k: v.detach() for k, v in log_vars.items()}
    log_vars['loss'] = loss.detach() if isinstance(loss, torch.Tensor) else torch.tensor(loss)
    return loss, log_vars


class UDADecorator(BaseModule):
    """Holds the student segmentor `model` and forwards the test-time API to it.

    Args:
        model (dict): segmentor config (copied from the config's `model` by `build_train_model`).
        max_iters (int): length of the run (schedules inside the UDA method use it).
        mixed_precision (str | None): 'bf16' or 'fp16' autocast for the network passes;
            None (default) keeps MIC's fp32 numerics.
    """

    def __init__(self, model, max_iters, mixed_precision=None):
        super().__init__()
        if mixed_precision not in MIXED_PRECISION_DTYPES:
            raise ValueError(f'mixed_precision must be one of {list(MIXED_PRECISION_DTYPES)}, '
                             f'got {mixed_precision!r}')
        self.model = build_segmentor(deepcopy(model))
        self.train_cfg = model.get('train_cfg') or {}
        self.test_cfg = model.get('test_cfg')
        self.num_classes = model['decode_head']['num_classes']
        self.max_iters = max_iters
        self.mixed_precision = mixed_precision
        self.grad_scaler = torch.amp.GradScaler(enabled=mixed_precision == 'fp16')

    def get_model(self):
        return get_module(self.model)

    def autocast(self, device):
        """Autocast context for the network passes; losses are computed in fp32 by the heads."""
        dtype = MIXED_PRECISION_DTYPES[self.mixed_precision]
        if dtype is None:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=dtype)

    # Test-time API: delegated to the student, which MIC evaluates.
    def extract_feat(self, img):
        return self.get_model().extract_feat(img)

    def encode_decode(self, img, img_metas):
        return self.get_model().encode_decode(img, img_metas)

    def inference(self, img, img_meta, rescale):
        return self.get_model().inference(img, img_meta, rescale)

    def simple_test(self, img, img_meta, rescale=True):
        return self.get_model().simple_test(img, img_meta, rescale)

    def aug_test(self, imgs, img_metas, rescale=True):
        return self.get_model().aug_test(imgs, img_metas, rescale)

    def forward_test(self, imgs, img_metas, **kwargs):
        return self.get_model().forward_test(imgs, img_metas, **kwargs)

    def show_result(self, *args, **kwargs):
        return self.get_model().show_result(*args, **kwargs)

    def forward(self, img, img_metas, return_loss=True, **kwargs):
        if return_loss:
            return self.forward_train(img, img_metas, **kwargs)
        return self.forward_test(img, img_metas, **kwargs)

    def forward_train(self, img, img_metas, gt_semantic_seg, **kwargs):
        raise NotImplementedError

    def train_step(self, data_batch, optimizer, **kwargs):
        """One UDA iteration: the method back-propagates its passes itself, then one step.

        MIC configs set `optimizer_config=None`, so mmcv registers no OptimizerHook and this is
        the only place that touches the optimizer.
        """
        optimizer.zero_grad(set_to_none=True)
        log_vars = self(**data_batch)
        self.sync_gradients()
        if self.grad_scaler.is_enabled():
            self.grad_scaler.step(optimizer)
            self.grad_scaler.update()
        else:
            optimizer.step()
        log_vars.pop('loss', None)
        return dict(log_vars=self.log_vars_to_floats(log_vars),
                    num_samples=len(data_batch['img_metas']))

    def backward(self, loss, retain_graph=False):
        """Back-propagate one pass (scaled when fp16 is on)."""
        self.grad_scaler.scale(loss).backward(retain_graph=retain_graph)

    def sync_gradients(self):
        """Average the student's gradients over processes (one bucketed all-reduce).

        MIC's step runs several forward/backward pairs inside `train_step`, which DDP's reducer
        does not support; every rank accumulates locally and the sum is reduced once here.
        """
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        grads = [p.grad for p in self.get_model().parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch._utils._flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat /= dist.get_world_size()
        for grad, synced in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
            grad.copy_(synced)

    @staticmethod
    def log_vars_to_floats(log_vars):
        """Convert all logged scalar tensors to floats with a single device-to-host copy."""
        if not log_vars:
            return {}
        values = torch.stack([v.detach().float().reshape(()) for v in log_vars.values()])
        return dict(zip(log_vars, values.cpu().tolist()))
