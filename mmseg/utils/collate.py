"""Collating samples into batches that the DataLoader can pin.

torch's pin-memory thread pins tensors, containers of tensors and objects with a `pin_memory()`
method; mmcv's `DataContainer` is none of these, so with mmcv's `collate` alone
`pin_memory=True` pins nothing and every host-to-GPU copy of a batch is synchronous.
"""
from typing import Any

import torch
from mmcv.parallel import DataContainer
from mmcv.parallel import collate as mmcv_collate


def pin_tensors(data: Any) -> Any:
    """`data` with every tensor in page-locked memory (lists and tuples are walked)."""
    if isinstance(data, torch.Tensor):
        return data.pin_memory()
    if isinstance(data, (list, tuple)):
        return type(data)(pin_tensors(item) for item in data)
    return data


class PinnableDataContainer(DataContainer):
    """A `DataContainer` that torch's pin-memory thread pins (except `cpu_only` metas)."""

    def pin_memory(self) -> 'PinnableDataContainer':
        if self.cpu_only:
            return self
        return PinnableDataContainer(pin_tensors(self.data), self.stack, self.padding_value,
                                     self.cpu_only, self.pad_dims)


def pinnable(data: Any) -> Any:
    """`data` with each `DataContainer` replaced by an equal `PinnableDataContainer`."""
    if isinstance(data, DataContainer):
        return PinnableDataContainer(data.data, data.stack, data.padding_value, data.cpu_only,
                                     data.pad_dims)
    if isinstance(data, dict):
        return {key: pinnable(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(pinnable(item) for item in data)
    return data


def collate(batch: list, samples_per_gpu: int = 1) -> Any:
    """mmcv's `collate` (padding, stacking, one chunk per `samples_per_gpu`), pinnable."""
    return pinnable(mmcv_collate(batch, samples_per_gpu))
