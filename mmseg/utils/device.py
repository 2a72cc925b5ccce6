"""The run's device as a value: where the model lives and where every batch goes.

mmcv 1.7's `MMDataParallel` / `MMDistributedDataParallel` cannot carry a batch to a GPU with
torch 2.x: their scatter hands torch's `_get_stream` an int where it now reads `device.type`, and
the DDP wrapper's forward reads attributes torch has removed. The project therefore places
models and batches itself, with the same code on CPU and CUDA: `to_device` unwraps the
`DataContainer`s of one process's batch and moves its tensors; `ModelOnDevice` does that for
every call of the model. CPU tests thus run the very code a GPU run runs.
"""
import os
from typing import Any, Optional, Sequence

import torch
from mmcv.parallel import DataContainer
from mmcv.parallel.registry import MODULE_WRAPPERS
from mmcv.parallel.utils import is_module_wrapper
from torch import nn

from .errors import UserError


def select_device(gpu_ids: Optional[Sequence[int]] = None,
                  distributed: bool = False) -> torch.device:
    """The device of this process, made the current CUDA device.

    CPU when no GPU is visible; in a distributed run the GPU of the local rank (torchrun's
    LOCAL_RANK); otherwise the first of `gpu_ids` (`--gpu-ids`, default GPU 0).
    """
    if not torch.cuda.is_available():
        return torch.device('cpu')
    if distributed:
        index = int(os.environ.get('LOCAL_RANK', 0))
    else:
        ids = list(gpu_ids) if gpu_ids is not None else [0]
        if len(ids) != 1:
            raise UserError(f'--gpu-ids {ids}: one process trains on one GPU; for several GPUs '
                            'use `python run_experiments.py --gpus N` or torchrun with '
                            '`--launcher pytorch`.')
        index = ids[0]
    count = torch.cuda.device_count()
    if not 0 <= index < count:
        raise UserError(f'GPU {index} was asked for, but {count} GPU(s) are visible '
                        '(CUDA_VISIBLE_DEVICES); choose --gpu-ids between 0 and '
                        f'{count - 1}.')
    torch.cuda.set_device(index)
    return torch.device('cuda', index)


def default_device() -> torch.device:
    """The current GPU when one is visible, else the CPU."""
    if torch.cuda.is_available():
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')


def to_device(data: Any, device: torch.device) -> Any:
    """`data` with every tensor on `device` and every `DataContainer` unwrapped.

    A collated batch of one process holds one chunk per DataContainer (`dc.data[0]`); the
    `cpu_only` ones (image metas) stay where they are. Copies are non-blocking, which overlaps
    them with the computation when the loader pinned the batch.
    """
    if isinstance(data, torch.Tensor):
        return data.to(device, non_blocking=True)
    if isinstance(data, DataContainer):
        if len(data.data) != 1:
            raise ValueError(f'a batch DataContainer holds {len(data.data)} chunks; one process '
                             'takes one chunk (collate with samples_per_gpu = the batch size)')
        chunk = data.data[0]
        return chunk if data.cpu_only else to_device(chunk, device)
    if isinstance(data, dict):
        return type(data)((key, to_device(value, device)) for key, value in data.items())
    if isinstance(data, (list, tuple)):
        return type(data)(to_device(value, device) for value in data)
    return data


@MODULE_WRAPPERS.register_module()
class ModelOnDevice(nn.Module):
    """A model on `device` that moves its inputs there (mmcv's module-wrapper interface).

    Registered as an mmcv module wrapper, so state dicts, checkpoints and hooks see the model
    inside (`.module`) and checkpoint keys are those of the bare model.
    """

    def __init__(self, module: nn.Module, device: torch.device):
        super().__init__()
        self.device = torch.device(device)
        self.module = module.to(self.device)
        # mmcv's text logger reports the peak memory of this device.
        self.output_device = self.device if self.device.type == 'cuda' else None

    def forward(self, *args, **kwargs):
        return self.module(*to_device(args, self.device), **to_device(kwargs, self.device))

    def train_step(self, data_batch: dict, optimizer, **kwargs):
        return self.module.train_step(to_device(data_batch, self.device), optimizer, **kwargs)

    def val_step(self, data_batch: dict, optimizer=None, **kwargs):
        return self.module.val_step(to_device(data_batch, self.device), optimizer, **kwargs)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a module wrapper (`ModelOnDevice`, torch's DataParallel/DDP), if any."""
    return model.module if is_module_wrapper(model) else model
