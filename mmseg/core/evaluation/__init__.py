from .class_names import get_classes, get_palette
from .metrics import (SYNTHIA_CLASS_SUBSETS, check_metrics, class_subset_metrics, eval_metrics,
                      intersect_and_union, mean_iou, pre_eval_to_metrics,
                      total_area_to_metrics, total_intersect_and_union)

__all__ = [
    'get_classes', 'get_palette', 'SYNTHIA_CLASS_SUBSETS', 'check_metrics', 'class_subset_metrics',
    'eval_metrics', 'intersect_and_union', 'mean_iou', 'pre_eval_to_metrics',
    'total_area_to_metrics', 'total_intersect_and_union'
]
from .eval_hooks import DistEvalHook, EvalHook  # noqa: E402

__all__ += ['DistEvalHook', 'EvalHook']
