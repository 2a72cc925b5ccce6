"""Opt-in speed switches of a built model (docs/config.md, "Top-level switches").

Every switch is a top-level config key and defaults to off, which is MIC's behaviour:

- `channels_last=False`: store the 4-D (convolution) weights of the student, the EMA teacher
  and the ImageNet model in NHWC; convolutions then run in channels-last, which cuDNN and
  oneDNN prefer for the DAFormer decoder and the patch embeddings. Numerically equal up to
  float summation order.
- `compile_backbone=False`: `torch.compile` the MiT backbone of each of those segmentors
  in place (`nn.Module.compile`, so state-dict keys do not change and checkpoints stay
  loadable by MIC's code). Needs a C++ compiler on CPU; the first iterations are slow.
- Fused AdamW is not a switch here: mmcv's optimizer builder passes extra keys on to
  `torch.optim.AdamW`, so `optimizer=dict(type='AdamW', ..., fused=True)` selects it.
- `mixed_precision` ('bf16' | 'fp16' | None) is read by the UDA model itself.

`configure_performance(model, cfg)` is called once after the model is built and initialised,
before the optimizer is built (by tools/train.py and tools/benchmark.py).
"""
from typing import Iterator, List

import torch
from torch import nn

from ..utils.device import unwrap_model

PERFORMANCE_KEYS = ('channels_last', 'compile_backbone')


def segmentors_of(model: nn.Module) -> List[nn.Module]:
    """The segmentors a training step runs: student, EMA teacher, ImageNet model, MIC teacher.

    A plain segmentor (no UDA wrapper) is returned alone.
    """
    model = unwrap_model(model)
    if not hasattr(model, 'get_model'):
        return [model]
    found = [model.get_model()]
    for name in ('ema_model', 'imnet_model'):
        if hasattr(model, name):
            found.append(getattr(model, name))
    mic = getattr(model, 'mic', None)
    if mic is not None and getattr(mic, 'teacher', None) is not None:
        found.append(mic.teacher.ema_model)
    return found


def _unique(modules: List[nn.Module]) -> Iterator[nn.Module]:
    seen = set()
    for module in modules:
        if id(module) not in seen:
            seen.add(id(module))
            yield module


def configure_performance(model: nn.Module, cfg) -> nn.Module:
    """Apply the switches named in `PERFORMANCE_KEYS` that `cfg` turns on; returns `model`.

    Args:
        model: a UDA model (DACS/PCPR, possibly wrapped) or a plain segmentor.
        cfg: the mmcv Config (only the top-level keys above are read).
    """
    segmentors = list(_unique(segmentors_of(model)))
    if cfg.get('channels_last', False):
        for segmentor in segmentors:
            segmentor.to(memory_format=torch.channels_last)
    if cfg.get('compile_backbone', False):
        for segmentor in segmentors:
            segmentor.backbone.compile()
    return model
