"""Base of the UDA methods: wraps a segmentor and does its own optimizer step (as MIC)."""
from contextlib import nullcontext
from copy import deepcopy
from typing import Optional

import torch
from mmcv.runner import BaseModule

from ...core.runner.distributed import average_gradients
from ...core.runner.nonfinite import BufferSnapshot, grads_finite, losses_finite
from ...utils.logger import get_root_logger
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
        # The scaler works on the gradients' device; its device argument only decides whether
        # it disables itself for want of CUDA, so it names the device training will use.
        self.grad_scaler = torch.amp.GradScaler(
            'cuda' if torch.cuda.is_available() else 'cpu', enabled=mixed_precision == 'fp16')
        # Set by the runner from the config's `nonfinite_loss` (see core/runner/nonfinite.py).
        self.skip_nonfinite = False

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
        the only place that touches the optimizer. In a distributed run the gradients are
        averaged over the processes first (`average_gradients`). With `skip_nonfinite`, a step
        whose loss terms or gradients are not finite in any process is dropped: no optimizer
        step, and the buffers the forward changed (BN statistics, prototype memory) are
        restored; the returned dict then has `nonfinite=True`. The decision costs one host
        sync, which the log values share.
        """
        optimizer.zero_grad(set_to_none=True)
        snapshot = BufferSnapshot(self) if self.skip_nonfinite else None
        log_vars = self(**data_batch)
        log_vars.pop('loss', None)
        ok = None
        if self.skip_nonfinite:
            ok = losses_finite(log_vars)
            # fp16: the gradients are still scaled; an overflow is the scaler's to handle (it
            # skips the step and backs off), so it must not count as a bad step here.
            if not self.grad_scaler.is_enabled():
                ok = ok & grads_finite(self.get_model().parameters()).to(ok.device)
        ok = average_gradients(self.get_model().parameters(), ok)
        floats = self.log_vars_to_floats(dict(log_vars, _ok=ok) if ok is not None else log_vars)
        outputs = dict(num_samples=len(data_batch['img_metas']))
        if ok is not None and not floats.pop('_ok'):
            optimizer.zero_grad(set_to_none=True)
            snapshot.restore()
            outputs.update(log_vars=floats, nonfinite=True)
            return outputs
        if self.grad_scaler.is_enabled():
            self.grad_scaler.step(optimizer)
            self.grad_scaler.update()
        else:
            optimizer.step()
        outputs.update(log_vars=floats)
        return outputs

    def train_state(self) -> dict:
        """Training counters outside the state dict, for exact resume (plain data)."""
        state = dict(grad_scaler=self.grad_scaler.state_dict())
        if hasattr(self, 'local_iter'):
            state['local_iter'] = int(self.local_iter)
        return state

    def load_train_state(self, state: Optional[dict], iteration: int) -> None:
        """Restore `train_state()`; MIC checkpoints have none, then the UDA loop continues at the
        runner's `iteration` (MIC restarted at 0, re-initialising the EMA teacher)."""
        state = state or {}
        if 'grad_scaler' in state and self.grad_scaler.is_enabled():
            self.grad_scaler.load_state_dict(state['grad_scaler'])
        if not hasattr(self, 'local_iter'):
            return
        if 'local_iter' in state:
            self.local_iter = int(state['local_iter'])
        else:
            get_root_logger().warning(
                f'the checkpoint has no UDA iteration counter (local_iter; a MIC checkpoint?): '
                f'continuing the UDA schedules (EMA teacher, warm-ups) at iteration {iteration}')
            self.local_iter = iteration

    def backward(self, loss, retain_graph=False):
        """Back-propagate one pass (scaled when fp16 is on)."""
        self.grad_scaler.scale(loss).backward(retain_graph=retain_graph)

    @staticmethod
    def log_vars_to_floats(log_vars):
        """Convert all logged scalar tensors to floats with a single device-to-host copy."""
        if not log_vars:
            return {}
        values = torch.stack([v.detach().float().reshape(()) for v in log_vars.values()])
        return dict(zip(log_vars, values.cpu().tolist()))
