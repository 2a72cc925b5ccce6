"""Small collectives for the runner: identical initial weights, averaged gradients and
buffers, gathering plain objects. All are no-ops in a single process."""
from typing import Any, Callable, Iterable, List, Optional

import torch
import torch.distributed as dist
from torch import nn


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _same_kind_groups(tensors: Iterable[torch.Tensor]) -> List[List[torch.Tensor]]:
    """`tensors` grouped by (device, dtype), the unit one flat collective can carry."""
    groups = {}
    for tensor in tensors:
        groups.setdefault((tensor.device, tensor.dtype), []).append(tensor)
    return list(groups.values())


def _flat_collective(tensors: List[torch.Tensor], collective: Callable[[torch.Tensor], Any]):
    """Run `collective` in place on one flat copy of `tensors` and copy the result back."""
    flat = torch._utils._flatten_dense_tensors(tensors)
    collective(flat)
    for tensor, synced in zip(tensors, torch._utils._unflatten_dense_tensors(flat, tensors)):
        tensor.copy_(synced)


def _all_reduce_mean(flat: torch.Tensor) -> None:
    dist.all_reduce(flat)
    flat /= dist.get_world_size()


@torch.no_grad()
def broadcast_module_state(module: nn.Module, src: int = 0) -> None:
    """Copy every parameter and buffer of `module` from process `src` to all processes.

    One flat broadcast per (device, dtype), so that the student, the EMA teacher, the frozen
    ImageNet model and the prototype memory start identical whatever each process drew.
    """
    if not is_distributed():
        return
    tensors = [t.data for t in list(module.parameters()) + list(module.buffers())]
    for group in _same_kind_groups(tensors):
        _flat_collective(group, lambda flat: dist.broadcast(flat, src))


@torch.no_grad()
def average_gradients(params: Iterable[nn.Parameter],
                      ok: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
    """Average the gradients of `params` over the processes, in one flat all-reduce.

    What DDP's reducer would do, for MIC's step of several forward/backward pairs (which the
    reducer does not support): each process accumulates its passes locally, then this sums and
    divides by the world size. A parameter without a gradient in one process (a loss term with
    no samples there) counts as zero there, as in DDP; one without a gradient in every process
    keeps `grad=None`, so the optimizer leaves it alone as in a single-process run. Every
    process therefore reduces buffers of the same layout, whatever its local data.

    Args:
        ok: () bool "this process's step is good", or None; it travels in the same all-reduce.
    Returns:
        The agreed `ok`: True only if it was True in every process (None if None was given).
    """
    if not is_distributed():
        return ok
    params = [p for p in params if p.requires_grad]
    if not params:
        return ok
    device = params[0].device
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    present = torch.tensor([float(p.grad is not None) for p in params], device=device)
    bad = (~ok).float().reshape(1).to(device) if ok is not None else present.new_zeros(1)
    flat = torch._utils._flatten_dense_tensors(grads + [present, bad])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    *synced, present, bad = torch._utils._unflatten_dense_tensors(flat, grads + [present, bad])
    for param, grad, average, seen in zip(params, grads, synced, present.tolist()):
        param.grad = grad.copy_(average) if seen else None
    return None if ok is None else bad[0] == 0


@torch.no_grad()
def sync_buffers(module: nn.Module) -> None:
    """Make the buffers of all processes equal before a checkpoint (`sync_buffer=True`).

    Floating buffers (BatchNorm statistics) are averaged; integer and bool buffers (counters,
    "initialised" flags) cannot be averaged in place and are taken from process 0 instead.
    mmcv's `allreduce_params` divides them all, which fails or truncates on those types.
    """
    if not is_distributed():
        return
    buffers = list(module.buffers())
    for group in _same_kind_groups(b for b in buffers if b.is_floating_point()):
        _flat_collective(group, _all_reduce_mean)
    for group in _same_kind_groups(b for b in buffers if not b.is_floating_point()):
        _flat_collective(group, lambda flat: dist.broadcast(flat, 0))


def gather_objects(obj: Any) -> List[Any]:
    """[obj of rank 0, obj of rank 1, ...] in every process ([obj] when not distributed)."""
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out
