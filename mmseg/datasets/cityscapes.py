"""Cityscapes (the target of GTA/Synthia→CS) with MIC's pseudo-label margin mask."""
import os.path as osp
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.utils import print_log

from ..core.evaluation.class_names import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from ..core.evaluation.metrics import ALLOWED_METRICS, check_metrics
from ..utils.errors import UserError
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


def _official_evaluation():
    """cityscapesscripts' evalPixelLevelSemanticLabeling module, runnable on numpy >= 2.4.

    The script (cityscapesscripts <= 2.3) calls `np.in1d`, which numpy 2.4 removed; its own
    `np` is then a view of numpy that adds `in1d` as the equivalent flattened `np.isin`.
    numpy itself is not modified.
    """
    import types

    import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as CSEval
    if not hasattr(CSEval.np, 'in1d'):
        class NumpyWithIn1d(types.ModuleType):
            def __getattr__(self, name):
                return getattr(np, name)

            @staticmethod
            def in1d(ar1, ar2, invert=False):
                return np.isin(np.ravel(ar1), ar2, invert=invert)

        CSEval.np = NumpyWithIn1d('numpy')
    return CSEval


@DATASETS.register_module()
class CityscapesDataset(CustomDataset):
    """Cityscapes train ids (`*_leftImg8bit.png` / `*_gtFine_labelTrainIds.png`).

    Args:
        crop_pseudo_margins: (top, bottom, left, right) in original pixels. When set,
            `pre_pipeline` adds a uint8 `valid_pseudo_mask` of `valid_mask_size` with those
            margins zeroed as a seg field — before any transform, so it is resized, cropped,
            flipped and padded (with 255) together with the image — and `valid_pseudo_mask` is
            appended to the final Collect's keys (as MIC's `CityscapesDataset.pre_pipeline`, HRDA's
            pseudo-label crop).
        valid_mask_size: (H, W) of that mask; must be the original image size (default 1024×2048).
        **kwargs: `CustomDataset` arguments.
    """

    CLASSES = CITYSCAPES_CLASSES
    PALETTE = CITYSCAPES_PALETTE
    IMG_SUFFIX = '_leftImg8bit.png'
    SEG_MAP_SUFFIX = '_gtFine_labelTrainIds.png'
    CONVERTER = 'tools/convert_datasets/cityscapes.py'
    METRICS = ALLOWED_METRICS + ('cityscapes', )
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

    def evaluate(self, results: list, metric: Union[str, Sequence[str]] = 'mIoU', logger=None,
                 imgfile_prefix: Optional[str] = None, **kwargs) -> Dict[str, object]:
        """MMSeg 0.x's Cityscapes evaluation: 'cityscapes' runs the official script, the other
        metrics go to `CustomDataset.evaluate`.

        Args:
            results: (H, W) train-id predictions or .npy paths ('cityscapes' needs the maps;
                the other metrics also take `pre_eval` tuples).
            metric: any of 'cityscapes', 'mIoU', 'mDice', 'mFscore'.
            imgfile_prefix: folder for the label-id PNGs the official script reads (kept);
                None: a temporary folder, removed afterwards.
            **kwargs: passed on to `CustomDataset.evaluate` (e.g. class_subsets).

        Returns:
            cityscapesscripts' result dict (`averageScoreClasses`, `classScores`,
            `averageScoreCategories`, ...) merged with the other metrics' results.
        """
        metrics = check_metrics(metric, self.METRICS)
        eval_results = {}
        if 'cityscapes' in metrics:
            eval_results.update(self._evaluate_cityscapes(results, logger, imgfile_prefix))
            metrics.remove('cityscapes')
        if metrics:
            eval_results.update(super().evaluate(results, metrics, logger, **kwargs))
        return eval_results

    def _evaluate_cityscapes(self, results: list, logger, imgfile_prefix: Optional[str]
                             ) -> Dict[str, object]:
        """Write label-id PNGs and score them with cityscapesscripts' evalPixelLevelSemanticLabeling
        against every `*_gtFine_labelIds.png` (with its `*_gtFine_instanceIds.png`) under
        `ann_dir`, as MMSeg 0.x does. The script's global arguments are set to these folders
        and its JSON export is off, so nothing is read or written in `CITYSCAPES_DATASET`."""
        if results and isinstance(results[0], (tuple, list)):
            raise UserError("metric 'cityscapes' needs the prediction maps, not pre_eval "
                            'statistics (tools/test.py keeps them for --eval cityscapes)')
        CSEval = _official_evaluation()
        gt_files = sorted(osp.join(self.ann_dir, f) for f in
                          mmcv.scandir(self.ann_dir, '_gtFine_labelIds.png', recursive=True))
        if len(gt_files) != len(self):
            raise UserError(
                f"metric 'cityscapes' needs one *_gtFine_labelIds.png (and *_gtFine_instanceIds"
                f'.png) per image under {self.ann_dir}: found {len(gt_files)} for {len(self)} '
                'images. They come with gtFine_trainvaltest.zip; keep them next to the '
                'labelTrainIds files.')
        _, tmp_dir = self.format_results(results, imgfile_prefix, to_label_id=True)
        result_dir = tmp_dir.name if tmp_dir is not None else imgfile_prefix
        print_log(f'Evaluating in Cityscapes style ({result_dir})', logger=logger)
        CSEval.args.evalInstLevelScore = True
        CSEval.args.predictionPath = osp.abspath(result_dir)
        CSEval.args.predictionWalk = None  # the script caches the listing of the last folder
        CSEval.args.evalPixelAccuracy = True
        CSEval.args.JSONOutput = False
        try:
            pred_files = [CSEval.getPrediction(CSEval.args, f) for f in gt_files]
            return CSEval.evaluateImgLists(pred_files, gt_files, CSEval.args)
        except SystemExit:  # the script reports problems by printing and exiting
            raise UserError(f'cityscapesscripts could not evaluate the predictions in '
                            f'{result_dir} against {self.ann_dir} (its message is above)') from None
        finally:
            if tmp_dir is not None:
                tmp_dir.cleanup()
