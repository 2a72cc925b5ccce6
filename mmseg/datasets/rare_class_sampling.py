"""Rare class sampling (DAFormer/MIC): class probabilities and per-class file lists.

The statistics come from the converters (`tools/convert_datasets/*.py`), written into the source
dataset's root: `sample_class_stats.json` (a list of {"file": path, "<train id>": pixels, ...})
and `samples_with_class.json` ({"<train id>": [[path, pixels], ...]}), counted at original
label resolution.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..utils.errors import UserError


def rcs_class_probs(sample_class_stats: Sequence[Dict[str, int]],
                    temperature: float) -> Tuple[List[int], np.ndarray]:
    """P(c) = softmax_c((1 - f_c) / T) with f_c = N_c / Σ N over all files.

    Classes are returned in ascending pixel count (ties: first seen first); classes that never
    occur are absent. Computed in float32 with torch, as MIC, so draws match its sampler.

    Returns:
        (classes, probs): class ids and their (K,) float32 probabilities.
    """
    totals: Dict[int, int] = {}
    for stats in sample_class_stats:
        for key, n in stats.items():
            if key == 'file':
                continue
            totals[int(key)] = totals.get(int(key), 0) + n
    ordered = sorted(totals.items(), key=lambda item: item[1])
    freq = torch.tensor([n for _, n in ordered])
    freq = 1 - freq / torch.sum(freq)
    probs = torch.softmax(freq / temperature, dim=-1)
    return [c for c, _ in ordered], probs.numpy()


def files_with_class(samples_with_class: Dict[str, Sequence[Tuple[str, int]]],
                     classes: Sequence[int], min_pixels: int) -> Dict[int, List[str]]:
    """For each class, basenames of files holding more than `min_pixels` pixels of it."""
    by_class = {int(k): v for k, v in samples_with_class.items()}
    result = {}
    for c in classes:
        files = [osp.basename(file) for file, pixels in by_class.get(c, []) if pixels > min_pixels]
        if not files:
            raise ValueError(f'rare class sampling: no file has more than {min_pixels} pixels of '
                             f'class {c}; lower rare_class_sampling.min_pixels')
        result[c] = files
    return result


def load_rcs_stats(data_root: str, converter: Optional[str]) -> Tuple[list, dict]:
    """Read (sample_class_stats, samples_with_class) from `data_root`, or say how to make them."""
    loaded = []
    for name in ('sample_class_stats.json', 'samples_with_class.json'):
        path = osp.join(data_root, name)
        if not osp.isfile(path):
            fix = (f'run `python {converter}` to write it' if converter else
                   'write it with the converter of the source dataset')
            raise UserError(f'rare class sampling needs {path}, which does not exist; {fix} '
                            '(or remove rare_class_sampling from the data config).')
        try:
            with open(path) as f:
                loaded.append(json.load(f))
        except json.JSONDecodeError as e:
            raise UserError(f'{path} is not valid JSON ({e}); re-run the converter') from None
    return loaded[0], loaded[1]
