"""Skipping training steps whose loss or gradients are not finite, and giving up after K.

A NaN/inf step is dropped as a whole: no optimizer step, and the module buffers it changed
(BatchNorm statistics, the prototype memory) are put back, so one bad batch cannot poison the
weights, the EMA teacher or the prototypes. After `max_consecutive` bad steps in a row the run
stops with a `UserError`; the checkpoints written so far hold only good steps.

Config (top level):
    nonfinite_loss = dict(max_consecutive=5)   # default; None: never check (MIC behaviour)

MIC's ImageNet feature distance is NaN by design when no source cell reaches the thing-class
ratio (the mean over an empty set; its gradient is zero), so that log term alone does not make
a step bad; its gradients still have to be finite.
"""
from typing import Dict, Iterable, List, Optional

import torch
from mmcv.runner import HOOKS, Hook, OptimizerHook

from ...utils.errors import UserError
from .distributed import average_gradients

# Loss terms that are legitimately NaN with a zero gradient (see the module docstring).
NAN_TOLERANT_TERMS = ('loss_imnet_feat_dist',)
DEFAULT_MAX_CONSECUTIVE = 5
NONFINITE_DEFAULT = dict(max_consecutive=DEFAULT_MAX_CONSECUTIVE)


def checked_terms(log_vars: Dict[str, object]) -> List[str]:
    """Names of the summed loss terms whose value must be finite."""
    return [k for k in log_vars if 'loss' in k and not k.endswith(NAN_TOLERANT_TERMS)]


def losses_finite(log_vars: Dict[str, torch.Tensor]) -> torch.Tensor:
    """() bool tensor on the losses' device: every checked loss term is finite (no host sync)."""
    values = [log_vars[k].detach().float().reshape(()) for k in checked_terms(log_vars)]
    if not values:
        return torch.tensor(True)
    return torch.isfinite(torch.stack(values)).all()


def grads_finite(params: Iterable[torch.nn.Parameter]) -> torch.Tensor:
    """() bool tensor: every existing gradient is finite (one fused norm per tensor)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(True)
    return torch.isfinite(torch.stack(torch._foreach_norm(grads))).all()


def nonfinite_terms(log_vars: Dict[str, float]) -> List[str]:
    """Checked loss terms whose (logged, float) value is NaN or inf, for messages."""
    return [k for k in checked_terms(log_vars)
            if not torch.isfinite(torch.tensor(float(log_vars[k])))]


class BufferSnapshot:
    """Copies of a module's buffers, to undo what a skipped step did to them."""

    def __init__(self, module: torch.nn.Module):
        self.saved = [(buf, buf.clone()) for buf in module.buffers()]

    @torch.no_grad()
    def restore(self) -> None:
        for buf, copy in self.saved:
            buf.copy_(copy)


class NonFiniteMonitor(Hook):
    """Counts consecutive skipped steps and stops the run at `max_consecutive`.

    Registered at priority `PRIORITY`: after the optimizer hook (which decides for plain
    segmentors) and before the checkpoint hook, so the failing iteration writes no checkpoint.

    Args:
        max_consecutive: K; None or 0 turns checking off.
    """

    PRIORITY = 45  # between ABOVE_NORMAL (40, OptimizerHook) and NORMAL (50, checkpoints)

    def __init__(self, max_consecutive: Optional[int] = DEFAULT_MAX_CONSECUTIVE):
        self.max_consecutive = max_consecutive
        self.consecutive = 0

    @classmethod
    def from_cfg(cls, cfg) -> 'NonFiniteMonitor':
        if cfg is None:
            return cls(None)
        unknown = set(cfg) - {'max_consecutive'}
        if unknown:
            raise UserError(f'unknown key(s) in nonfinite_loss: {sorted(unknown)}; the only key '
                            'is max_consecutive')
        return cls(cfg.get('max_consecutive', DEFAULT_MAX_CONSECUTIVE))

    @property
    def enabled(self) -> bool:
        return bool(self.max_consecutive)

    def after_train_iter(self, runner) -> None:
        """Account for iteration `runner.iter` (0-based), skipped if its outputs say so."""
        outputs = runner.outputs
        if not outputs.get('nonfinite'):
            self.consecutive = 0
            return
        self.consecutive += 1
        terms = nonfinite_terms(outputs.get('log_vars', {})) or ['the gradients']
        runner.logger.warning(
            f'iteration {runner.iter + 1}: non-finite loss/gradients ({", ".join(terms)}); the '
            f'step was skipped ({self.consecutive} in a row, limit {self.max_consecutive}).')
        if self.consecutive >= self.max_consecutive:
            last = (runner.meta or {}).get('hook_msgs', {}).get('last_ckpt')
            kept = f'the last good checkpoint is {last}' if last else 'no checkpoint was saved'
            raise UserError(
                f'training stopped at iteration {runner.iter + 1}: the loss was non-finite (NaN '
                f'or inf: {", ".join(terms)}) in {self.consecutive} consecutive iterations; '
                f'{kept}. Try a lower learning rate (optimizer.lr), mixed_precision=None (fp32) '
                'or gradient clipping, and check the data; the limit is '
                'nonfinite_loss.max_consecutive.')


@HOOKS.register_module()
class NonFiniteSkipOptimizerHook(OptimizerHook):
    """mmcv's OptimizerHook for plain segmentors: gradients averaged over the processes (DDP's
    job, done here as for UDA models) and, with `skip_nonfinite`, steps with a non-finite loss
    or gradient skipped.

    It marks a skipped step with `runner.outputs['nonfinite'] = True` for `NonFiniteMonitor`.
    """

    def __init__(self, *args, skip_nonfinite: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.skip_nonfinite = skip_nonfinite

    def before_train_iter(self, runner):
        self.snapshot = BufferSnapshot(runner.model) if self.skip_nonfinite else None

    def after_train_iter(self, runner):
        runner.optimizer.zero_grad()
        loss = runner.outputs['loss']
        loss.backward()
        ok = None
        if self.skip_nonfinite:
            ok = torch.isfinite(loss.detach()).all() & grads_finite(runner.model.parameters())
        ok = average_gradients(runner.model.parameters(), ok)  # one bad process skips everywhere
        if ok is not None and not bool(ok):
            runner.optimizer.zero_grad()
            self.snapshot.restore()
            runner.outputs['nonfinite'] = True
            return
        if self.grad_clip is not None:
            grad_norm = self.clip_grads(runner.model.parameters())
            if grad_norm is not None:
                runner.log_buffer.update({'grad_norm': float(grad_norm)},
                                         runner.outputs['num_samples'])
        runner.optimizer.step()
