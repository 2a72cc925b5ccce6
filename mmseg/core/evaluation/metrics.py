"""Segmentation metrics: per-image area histograms, their streaming sum and the final ratios.

Arithmetic as MMSeg 0.16's mmseg/core/evaluation/metrics.py (MIC's): GT pixels equal to
`ignore_index` are masked out,
intersections/unions are per-class pixel counts, totals are float64 sums over the dataset,
IoU_c = I_c / U_c, Acc_c = I_c / Label_c, aAcc = ΣI / ΣLabel, and the means are nanmeans, so a
class with U_c = 0 (absent from both prediction and GT) is excluded while a class in the GT that
is never predicted counts as 0.

Streaming: every function that takes many images consumes an iterable and only keeps the four
(num_classes,) totals, so memory does not grow with the dataset (MIC kept all GT maps in a list).
"""
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch

from ...utils.errors import UserError
from .class_names import SYNTHIA_13_EXCLUDED_CLASSES, SYNTHIA_ABSENT_CLASSES

Areas = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
ALLOWED_METRICS = ('mIoU', 'mDice', 'mFscore')

#: Synthia→Cityscapes protocols: mIoU16 drops the 3 classes Synthia lacks (MIC's README reports
#: mIoU19·19/16, equal to this when those classes have IoU 0), mIoU13 also drops wall/fence/pole.
SYNTHIA_CLASS_SUBSETS = {
    'mIoU16': tuple(c for c in range(19) if c not in SYNTHIA_ABSENT_CLASSES),
    'mIoU13': tuple(c for c in range(19) if c not in SYNTHIA_13_EXCLUDED_CLASSES),
}


def _as_label_array(label: Union[str, np.ndarray, torch.Tensor]) -> torch.Tensor:
    if isinstance(label, str):
        label = mmcv.imread(label, flag='unchanged', backend='pillow')
    if isinstance(label, np.ndarray):
        label = torch.from_numpy(np.ascontiguousarray(label))
    return label.long().cpu()


def _class_histogram(values: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-class pixel counts (float64); ids outside [0, num_classes) are dropped.

    Same counts as MIC's `torch.histc(bins=num_classes, min=0, max=num_classes-1)` for integer
    ids, but exact beyond 2**24 pixels.
    """
    values = values[(values >= 0) & (values < num_classes)]
    return torch.bincount(values, minlength=num_classes).double()


def check_metrics(metrics: Union[str, Sequence[str]],
                  allowed: Sequence[str] = ALLOWED_METRICS) -> List[str]:
    """The metric names as a list; names outside `allowed` are a UserError (checked before a
    long evaluation starts). Cityscapes-like datasets also allow 'cityscapes'."""
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = set(metrics) - set(allowed)
    if unknown:
        raise UserError(f'metrics {sorted(unknown)} are not supported here; use '
                        f'{tuple(allowed)}')
    return metrics


def f_score(precision: torch.Tensor, recall: torch.Tensor, beta: float = 1) -> torch.Tensor:
    """F-beta score (1 + beta^2) * P * R / (beta^2 * P + R), elementwise (MMSeg 0.x)."""
    return (1 + beta**2) * (precision * recall) / ((beta**2 * precision) + recall)


def intersect_and_union(pred_label: Union[str, np.ndarray, torch.Tensor],
                        label: Union[str, np.ndarray, torch.Tensor], num_classes: int,
                        ignore_index: int = 255, label_map: Optional[Dict[int, int]] = None,
                        reduce_zero_label: bool = False) -> Areas:
    """Per-class areas of one image.

    Args:
        pred_label: (H, W) predicted train ids (array, tensor or a .npy path).
        label: (H, W) ground truth (array, tensor or a label PNG path).
        label_map: old id -> new id, applied to the GT (looked up on the original ids).
        reduce_zero_label: GT 0 becomes ignore and the other ids shift down by one.

    Returns:
        (area_intersect, area_union, area_pred_label, area_label), each (num_classes,) float64.
    """
    if isinstance(pred_label, str):
        pred_label = np.load(pred_label)
    pred = _as_label_array(pred_label)
    gt = _as_label_array(label)
    if label_map:
        mapped = gt.clone()
        for old_id, new_id in label_map.items():
            mapped[gt == old_id] = new_id
        gt = mapped
    if reduce_zero_label:
        gt = torch.where(gt == 0, torch.full_like(gt, 255), gt - 1)
        gt[gt == 254] = 255
    valid = gt != ignore_index
    pred, gt = pred[valid], gt[valid]
    area_intersect = _class_histogram(pred[pred == gt], num_classes)
    area_pred_label = _class_histogram(pred, num_classes)
    area_label = _class_histogram(gt, num_classes)
    area_union = area_pred_label + area_label - area_intersect
    return area_intersect, area_union, area_pred_label, area_label


def _sum_areas(areas: Iterable[Areas]) -> Areas:
    """Streaming sum of per-image area tuples (keeps only the running totals)."""
    totals = None
    for item in areas:
        item = tuple(torch.as_tensor(a, dtype=torch.float64) for a in item)
        totals = item if totals is None else tuple(t + a for t, a in zip(totals, item))
    if totals is None:
        raise UserError('no results to evaluate: the dataset or prediction list is empty')
    return totals


def total_intersect_and_union(results: Iterable, gt_seg_maps: Iterable, num_classes: int,
                              ignore_index: int = 255,
                              label_map: Optional[Dict[int, int]] = None,
                              reduce_zero_label: bool = False) -> Areas:
    """Dataset totals of `intersect_and_union`; `results`/`gt_seg_maps` may be generators."""
    return _sum_areas(
        intersect_and_union(pred, gt, num_classes, ignore_index, label_map, reduce_zero_label)
        for pred, gt in zip(results, gt_seg_maps))


def total_area_to_metrics(total_area_intersect: torch.Tensor, total_area_union: torch.Tensor,
                          total_area_pred_label: torch.Tensor, total_area_label: torch.Tensor,
                          metrics: Union[str, Sequence[str]] = 'mIoU',
                          nan_to_num: Optional[float] = None,
                          beta: float = 1) -> 'OrderedDict[str, np.ndarray]':
    """Ratios from dataset totals: `aAcc` (scalar), `IoU`/`Acc`/`Dice` and, for 'mFscore',
    `Fscore`/`Precision`/`Recall` (Precision_c = I_c / Pred_c, Recall_c = I_c / Label_c, F-beta
    of the two), each (num_classes,), NaN where a denominator is 0 unless `nan_to_num`
    replaces it."""
    metrics = check_metrics(metrics)
    ret = OrderedDict(aAcc=total_area_intersect.sum() / total_area_label.sum())
    for metric in metrics:
        if metric == 'mIoU':
            ret['IoU'] = total_area_intersect / total_area_union
            ret['Acc'] = total_area_intersect / total_area_label
        elif metric == 'mDice':
            ret['Dice'] = 2 * total_area_intersect / (total_area_pred_label + total_area_label)
            ret['Acc'] = total_area_intersect / total_area_label
        elif metric == 'mFscore':
            precision = total_area_intersect / total_area_pred_label
            recall = total_area_intersect / total_area_label
            ret['Fscore'] = f_score(precision, recall, beta)
            ret['Precision'] = precision
            ret['Recall'] = recall
    ret = OrderedDict((k, v.numpy()) for k, v in ret.items())
    if nan_to_num is not None:
        ret = OrderedDict((k, np.nan_to_num(v, nan=nan_to_num)) for k, v in ret.items())
    return ret


def eval_metrics(results: Iterable, gt_seg_maps: Iterable, num_classes: int,
                 ignore_index: int = 255, metrics: Union[str, Sequence[str]] = 'mIoU',
                 nan_to_num: Optional[float] = None, label_map: Optional[Dict[int, int]] = None,
                 reduce_zero_label: bool = False) -> 'OrderedDict[str, np.ndarray]':
    """Metrics of (H, W) predictions against GT maps, streamed pair by pair."""
    totals = total_intersect_and_union(results, gt_seg_maps, num_classes, ignore_index,
                                       label_map, reduce_zero_label)
    return total_area_to_metrics(*totals, metrics=metrics, nan_to_num=nan_to_num)


def mean_iou(results: Iterable, gt_seg_maps: Iterable, num_classes: int,
             ignore_index: int = 255, nan_to_num: Optional[float] = None,
             label_map: Optional[Dict[int, int]] = None,
             reduce_zero_label: bool = False) -> 'OrderedDict[str, np.ndarray]':
    """`eval_metrics` with metrics='mIoU' (returns aAcc, IoU, Acc)."""
    return eval_metrics(results, gt_seg_maps, num_classes, ignore_index, 'mIoU', nan_to_num,
                        label_map, reduce_zero_label)


def pre_eval_to_metrics(pre_eval_results: Iterable[Areas],
                        metrics: Union[str, Sequence[str]] = 'mIoU',
                        nan_to_num: Optional[float] = None) -> 'OrderedDict[str, np.ndarray]':
    """Metrics from per-image `intersect_and_union` tuples (summed as they stream in)."""
    return total_area_to_metrics(*_sum_areas(pre_eval_results), metrics=metrics,
                                 nan_to_num=nan_to_num)


def class_subset_metrics(iou: np.ndarray,
                         class_subsets: Dict[str, Sequence[int]]) -> 'OrderedDict[str, float]':
    """nanmean IoU over each named subset of class ids, e.g. `SYNTHIA_CLASS_SUBSETS`.

    Used for the Synthia→Cityscapes protocols (`mIoU16`, `mIoU13`) from the 19 per-class IoUs.
    """
    return OrderedDict((name, float(np.nanmean(iou[list(ids)])))
                       for name, ids in class_subsets.items())
