"""Small collectives for the runner: identical initial weights and gathering plain objects."""
from typing import Any, List

import torch
import torch.distributed as dist
from torch import nn


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@torch.no_grad()
def broadcast_module_state(module: nn.Module, src: int = 0) -> None:
    """Copy every parameter and buffer of `module` from process `src` to all processes.

    One flat broadcast per (device, dtype), so that the student, the EMA teacher, the frozen
    ImageNet model and the prototype memory start identical whatever each process drew.
    """
    if not is_distributed():
        return
    groups = {}
    for tensor in list(module.parameters()) + list(module.buffers()):
        groups.setdefault((tensor.device, tensor.dtype), []).append(tensor)
    for tensors in groups.values():
        flat = torch._utils._flatten_dense_tensors([t.data for t in tensors])
        dist.broadcast(flat, src)
        for tensor, synced in zip(tensors, torch._utils._unflatten_dense_tensors(flat, tensors)):
            tensor.data.copy_(synced)


def gather_objects(obj: Any) -> List[Any]:
    """[obj of rank 0, obj of rank 1, ...] in every process ([obj] when not distributed)."""
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out
