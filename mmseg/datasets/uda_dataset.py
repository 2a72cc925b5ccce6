"""`UDADataset`: one labelled source item plus one unlabelled target item per index."""
import os.path as osp
from typing import Sequence, Tuple

import numpy as np
import torch
from mmcv.parallel import DataContainer as DC
from mmcv.utils import print_log

from ..utils.errors import UserError
from .builder import DATASETS
from .rare_class_sampling import files_with_class, load_rcs_stats, rcs_class_probs

#: Keys cropped by `sync_crop_size` (all (C, H, W) tensors of an item).
_SPATIAL_KEYS = ('img', 'gt_semantic_seg', 'valid_pseudo_mask', 'pl')


def get_crop_bbox(img_size: Sequence[int], crop_size: Sequence[int]) -> Tuple[int, int, int, int]:
    """(y1, y2, x1, x2) of a uniformly placed `crop_size` box in an `img_size` image."""
    margin_h = max(img_size[0] - crop_size[0], 0)
    margin_w = max(img_size[1] - crop_size[1], 0)
    y1 = np.random.randint(0, margin_h + 1)
    x1 = np.random.randint(0, margin_w + 1)
    return y1, y1 + crop_size[0], x1, x1 + crop_size[1]


@DATASETS.register_module()
class UDADataset:
    """Pairs of source and target items, optionally with rare class sampling (RCS).

    Without RCS, index i gives source[i // len(target)] and target[i % len(target)]; with RCS the
    index is ignored: a class c ~ P(c), a source file containing c, and a uniform target item are
    drawn (as MIC's `UDADataset.get_rare_class_sample` in seg/mmseg/datasets/uda_dataset.py).
    The item is the source item plus `target_img`, `target_img_metas`, `valid_pseudo_mask` (if
    the target has one), `pl` (the target's offline pseudo-label, if it has a `pl_dir`) and,
    only with
    `debug_gt=True`, `target_gt_semantic_seg` (MIC's target pipelines load the labels, but the
    UDA step must not see them unless asked to log pseudo-label accuracy).

    Built by `build_dataset`, which constructs source/target first.

    Args:
        source, target: built datasets with equal CLASSES, PALETTE and ignore_index.
        cfg: the raw config; reads `rare_class_sampling=dict(min_pixels, class_temp,
            min_crop_ratio)`, `sync_crop_size` ((h, w) common sub-crop of both items) and
            `debug_gt` (pass the target labels on, for logging only; default False).
    """

    def __init__(self, source, target, cfg: dict):
        self.source = source
        self.target = target
        self.ignore_index = target.ignore_index
        self.CLASSES = target.CLASSES
        self.PALETTE = target.PALETTE
        if (source.ignore_index != target.ignore_index
                or tuple(source.CLASSES) != tuple(target.CLASSES)
                or [list(p) for p in source.PALETTE] != [list(p) for p in target.PALETTE]):
            raise UserError('UDADataset: source and target must share CLASSES, PALETTE and '
                            'ignore_index')
        self.sync_crop_size = cfg.get('sync_crop_size')
        self.debug_gt = cfg.get('debug_gt', False)
        rcs_cfg = cfg.get('rare_class_sampling')
        self.rcs_enabled = rcs_cfg is not None
        if self.rcs_enabled:
            self._init_rcs(rcs_cfg)

    def _init_rcs(self, rcs_cfg: dict) -> None:
        self.rcs_class_temp = rcs_cfg['class_temp']
        self.rcs_min_crop_ratio = rcs_cfg['min_crop_ratio']
        self.rcs_min_pixels = rcs_cfg['min_pixels']
        class_stats, samples_with_class = load_rcs_stats(self.source.data_root,
                                                         self.source.CONVERTER)
        self.rcs_classes, self.rcs_classprob = rcs_class_probs(class_stats, self.rcs_class_temp)
        print_log(f'RCS Classes: {self.rcs_classes}', 'mmseg')
        print_log(f'RCS ClassProb: {self.rcs_classprob}', 'mmseg')
        try:
            self.samples_with_class = files_with_class(samples_with_class, self.rcs_classes,
                                                       self.rcs_min_pixels)
        except ValueError as e:
            raise UserError(str(e)) from None
        # MIC keys Cityscapes by the seg map's basename and GTA by its (flat) relative path;
        # the basename is the same key for both layouts.
        self.file_to_idx = {osp.basename(info['ann']['seg_map']): i
                            for i, info in enumerate(self.source.img_infos)}
        unknown = {f for files in self.samples_with_class.values() for f in files
                   if f not in self.file_to_idx}
        if unknown:
            raise UserError(f'samples_with_class.json in {self.source.data_root} names '
                            f'{len(unknown)} label files the source dataset lacks (e.g. '
                            f'{sorted(unknown)[0]}); re-run `python {self.source.CONVERTER}`.')

    def __len__(self) -> int:
        return len(self.source) * len(self.target)

    def synchronized_crop(self, s1: dict, s2: dict) -> Tuple[dict, dict]:
        """Apply one random `sync_crop_size` box to the spatial tensors of both items."""
        if self.sync_crop_size is None:
            return s1, s2
        y1, y2, x1, x2 = get_crop_bbox(s1['img'].data.shape[1:], self.sync_crop_size)
        for s in (s1, s2):
            for key in _SPATIAL_KEYS:
                if key in s:
                    s[key] = DC(s[key].data[:, y1:y2, x1:x2], stack=s[key].stack)
        return s1, s2

    def _merge(self, s1: dict, s2: dict) -> dict:
        s1, s2 = self.synchronized_crop(s1, s2)
        out = {**s1, 'target_img_metas': s2['img_metas'], 'target_img': s2['img']}
        for key in ('valid_pseudo_mask', 'pl'):
            if key in s2:
                out[key] = s2[key]
        if self.debug_gt and 'gt_semantic_seg' in s2:
            out['target_gt_semantic_seg'] = s2['gt_semantic_seg']
        return out

    def get_rare_class_sample(self) -> dict:
        """Draw c ~ P(c), a source file with c, re-crop up to 10 times until the crop holds
        more than min_pixels * min_crop_ratio pixels of c (the 11th load is used unchecked),
        then a uniform target item (np.random, as MIC)."""
        c = np.random.choice(self.rcs_classes, p=self.rcs_classprob)
        f1 = np.random.choice(self.samples_with_class[c])
        i1 = self.file_to_idx[f1]
        s1 = self.source[i1]
        if self.rcs_min_crop_ratio > 0:
            for _ in range(10):
                n_class = torch.sum(s1['gt_semantic_seg'].data == c)
                if n_class > self.rcs_min_pixels * self.rcs_min_crop_ratio:
                    break
                s1 = self.source[i1]
        i2 = np.random.choice(range(len(self.target)))
        return self._merge(s1, self.target[i2])

    def __getitem__(self, idx: int) -> dict:
        if self.rcs_enabled:
            return self.get_rare_class_sample()
        return self._merge(self.source[idx // len(self.target)],
                           self.target[idx % len(self.target)])
