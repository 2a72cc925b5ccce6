"""Conversion of pipeline results to tensors/DataContainers and selection of the item keys."""
from typing import Sequence

import numpy as np
import torch
from mmcv.parallel import DataContainer as DC

from ...utils.errors import UserError
from ..builder import PIPELINES

#: MMSeg 0.x's default meta keys (`Collect` in MIC's seg/mmseg/datasets/pipelines/formating.py).
DEFAULT_META_KEYS = ('filename', 'ori_filename', 'ori_shape', 'img_shape', 'pad_shape',
                     'scale_factor', 'flip', 'flip_direction', 'img_norm_cfg')


def _to_chw_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W[, C]) array -> (C, H, W) tensor."""
    if img.ndim < 3:
        img = img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


@PIPELINES.register_module()
class ImageToTensor:
    """Turn `results[key]` images into (C, H, W) tensors (test pipelines)."""

    def __init__(self, keys: Sequence[str]):
        self.keys = keys

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            results[key] = _to_chw_tensor(results[key])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(keys={self.keys})'


@PIPELINES.register_module()
class DefaultFormatBundle:
    """img -> DC((3, H, W), stack); gt_semantic_seg -> DC((1, H, W) int64, stack);
    valid_pseudo_mask -> DC((1, H, W) uint8, stack) (MIC's addition for pseudo-label margins);
    pl (offline pseudo-labels, dataset `pl_dir`) -> DC((1, H, W) int64, stack).

    Seg fields must have the image's size here: a `valid_pseudo_mask` created at a
    `valid_mask_size` other than the original image size would otherwise be silently misaligned.
    """

    def __call__(self, results: dict) -> dict:
        img_hw = results['img'].shape[:2]
        for key in results.get('seg_fields', []):
            if results[key].shape[:2] != img_hw:
                hint = (' Set the dataset\'s valid_mask_size to the original image size (H, W).'
                        if key == 'valid_pseudo_mask' else '')
                raise UserError(f'{key} of {results.get("filename")} has size '
                                f'{results[key].shape[:2]} but the image {img_hw} after the '
                                f'pipeline.{hint}')
        results['img'] = DC(_to_chw_tensor(results['img']), stack=True)
        for key in ('gt_semantic_seg', 'pl'):
            if key in results:
                label = results[key][None, ...].astype(np.int64)
                results[key] = DC(torch.from_numpy(label), stack=True)
        if 'valid_pseudo_mask' in results:
            mask = np.ascontiguousarray(results['valid_pseudo_mask'][None, ...])
            results['valid_pseudo_mask'] = DC(torch.from_numpy(mask), stack=True)
        return results

    def __repr__(self) -> str:
        return self.__class__.__name__ + '()'


@PIPELINES.register_module()
class Collect:
    """Keep `keys` and gather `meta_keys` into `img_metas` (DC, cpu_only).

    Args:
        keys: result keys to keep, e.g. ('img', 'gt_semantic_seg').
        meta_keys: keys copied into the image meta dict.
    """

    def __init__(self, keys: Sequence[str], meta_keys: Sequence[str] = DEFAULT_META_KEYS):
        self.keys = keys
        self.meta_keys = meta_keys

    def __call__(self, results: dict) -> dict:
        data = dict(img_metas=DC({key: results[key] for key in self.meta_keys}, cpu_only=True))
        for key in self.keys:
            data[key] = results[key]
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(keys={self.keys}, meta_keys={self.meta_keys})'
