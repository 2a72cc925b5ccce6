"""Cityscapes (the target of GTA/Synthia→CS) with MIC's pseudo-label margin mask."""
from functools import lru_cache
from typing import List, Optional, Sequence, Tuple

import numpy as np

from mmseg.core.evaluation.class_names import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from .builder import DATASETS
from .custom import CustomDataset, Prediction, collect_extra_key


@lru_cache(maxsize=1)
def _cityscapes_label_tables() -> Tuple[np.ndarray, List[int]]:
    """(256,) train id -> label id lookup (other values unchanged) and the flat label palette."""
    import cityscapesscripts.helpers.labels as cs_labels
    lut = np.arange(256, dtype=np.uint8)
    for train_id, label in cs_labels.trainId2label.items():
        if 0 <= train_id < 256:
            lut[train_id] = label.id
    palette = np.zeros((256, 3), dtype=np.uint8)
    for label_id, label in cs_labels.id2label.items():
        if label_id >= 0:
            palette[label_id] = label.color
    return lut, [int(v) for v in palette.ravel()]


@DATASETS.register_module()
class CityscapesDataset(CustomDataset):
    """Cityscapes train ids (`*_leftImg8bit.png` / `*_gtFine_labelTrainIds.png`).

    Args:
        crop_pseudo_margins: (top, bottom, left, right) in original pixels. When set,
            `pre_pipeline` adds a uint8 `valid_pseudo_mask` of `valid_mask_size` with those
            margins zeroed as a seg field — before any transform, so it is resized, cropped,
            flipped and padded (with 255) together with the image — and `valid_pseudo_mask` is
            appended to the final Collect's keys (MIC, reference-facts §5.4).
        valid_mask_size: (H, W) of that mask; must be the original image size (default 1024×2048).
        **kwargs: `CustomDataset` arguments.
    """

    CLASSES = CITYSCAPES_CLASSES
    PALETTE = CITYSCAPES_PALETTE
    IMG_SUFFIX = '_leftImg8bit.png'
    SEG_MAP_SUFFIX = '_gtFine_labelTrainIds.png'
    CONVERTER = 'tools/convert_datasets/cityscapes.py'
    LAYOUT = ('data/cityscapes/leftImg8bit/{train,val}/<city>/*_leftImg8bit.png and '
              'data/cityscapes/gtFine/{train,val}/<city>/*_gtFine_labelTrainIds.png')
    VALID_MASK_SIZE = (1024, 2048)

    def __init__(self, crop_pseudo_margins: Optional[Sequence[int]] = None,
                 valid_mask_size: Optional[Sequence[int]] = None, **kwargs):
        if crop_pseudo_margins is not None:
            assert len(crop_pseudo_margins) == 4, 'crop_pseudo_margins = (top, bottom, left, right)'
            kwargs['pipeline'] = collect_extra_key(kwargs['pipeline'], 'valid_pseudo_mask',
                                                   'crop_pseudo_margins')
        super().__init__(**kwargs)
        self.pseudo_margins = crop_pseudo_margins
        self.valid_mask_size = tuple(valid_mask_size or self.VALID_MASK_SIZE)

    def pre_pipeline(self, results: dict) -> None:
        super().pre_pipeline(results)
        if self.pseudo_margins is None:
            return
        top, bottom, left, right = self.pseudo_margins
        mask = np.ones(self.valid_mask_size, dtype=np.uint8)
        mask[:top, :] = 0
        if bottom > 0:
            mask[-bottom:, :] = 0
        mask[:, :left] = 0
        if right > 0:
            mask[:, -right:] = 0
        results['valid_pseudo_mask'] = mask
        results['seg_fields'].append('valid_pseudo_mask')

    def _export_map(self, result: np.ndarray, to_label_id: bool) -> Tuple[np.ndarray, List[int]]:
        """With to_label_id: Cityscapes label ids and the label-id colour palette (MIC)."""
        if not to_label_id:
            return super()._export_map(result, False)
        lut, palette = _cityscapes_label_tables()
        return lut[result.astype(np.uint8)], palette

    def format_results(self, results: Sequence[Prediction], imgfile_prefix: Optional[str] = None,
                       to_label_id: bool = True,
                       indices: Optional[Sequence[int]] = None):
        """As `CustomDataset.format_results`, converting to label ids by default (MIC)."""
        return super().format_results(results, imgfile_prefix, to_label_id, indices)
