"""`CustomDataset`: images + train-id label PNGs found by name, and their evaluation."""
import copy
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmcv.utils import print_log
from PIL import Image
from prettytable import PrettyTable
from torch.utils.data import Dataset

from ..core.evaluation.metrics import (ALLOWED_METRICS, SYNTHIA_CLASS_SUBSETS, check_metrics,
                                       class_subset_metrics, eval_metrics,
                                       intersect_and_union, pre_eval_to_metrics)
from ..utils.errors import UserError
from .builder import DATASETS
from .pipelines import Compose, LoadAnnotations

Prediction = Union[np.ndarray, torch.Tensor]


def collect_extra_key(pipeline: Sequence[dict], key: str, option: str) -> List[dict]:
    """A copy of `pipeline` whose final Collect also gathers `key` (added by dataset `option`)."""
    pipeline = copy.deepcopy(list(pipeline))
    if not pipeline or pipeline[-1]['type'] != 'Collect':
        raise UserError(f'{option} needs a pipeline ending in Collect, which gets the key {key}')
    keys = list(pipeline[-1]['keys'])
    if key not in keys:
        pipeline[-1]['keys'] = keys + [key]
    return pipeline


def insert_after_loading(pipeline: Sequence[dict], transform: dict) -> List[dict]:
    """A copy of `pipeline` with `transform` right after its leading `Load*` transforms."""
    pipeline = copy.deepcopy(list(pipeline))
    index = 0
    while index < len(pipeline) and pipeline[index]['type'].startswith('Load'):
        index += 1
    return pipeline[:index] + [transform] + pipeline[index:]


@DATASETS.register_module()
class CustomDataset(Dataset):
    """Images in `img_dir` paired with label maps in `ann_dir` (both relative to `data_root`).

    Without `split`, `img_dir` is scanned recursively for `img_suffix` (sorted); the label of
    `a/b<img_suffix>` is `a/b<seg_map_suffix>` in `ann_dir`. With `split`, a text file lists
    the name stems instead. Subclasses set the class attributes below.

    Args:
        pipeline: transform configs.
        img_dir, ann_dir: image / label folders (ann_dir None: images only).
        img_suffix, seg_map_suffix: file name endings (None: the class defaults).
        split: name-stem list file.
        data_root: prefix for relative img_dir/ann_dir/split.
        test_mode: items from `prepare_test_img` (no labels loaded).
        ignore_index: label value excluded from training and evaluation.
        reduce_zero_label: label 0 is ignore and ids shift down by one.
        classes, palette: a subset of CLASSES (labels of the others become ignore) or new names.
        pl_dir: folder of offline pseudo-labels (train ids, e.g. refined offline), one per image
            named like its label (`pl_suffix`, default `seg_map_suffix`); the pipeline then loads
            each as the seg field `pl` (cropped and flipped with the image) and collects it.
            Used by PCPR's `plf.use_offline_pl`; None = none.
        pl_suffix: file name ending of the offline pseudo-labels.
    """

    CLASSES: Optional[Sequence[str]] = None
    PALETTE: Optional[Sequence[Sequence[int]]] = None
    IMG_SUFFIX = '.jpg'
    SEG_MAP_SUFFIX = '.png'
    #: False: the layout has no split files (GTA, Synthia; MIC asserts split is None).
    HAS_SPLITS = True
    #: Script that writes this dataset's `*labelTrainIds.png` and RCS stats (None: shipped).
    CONVERTER: Optional[str] = None
    #: Expected folder layout, quoted in error messages.
    LAYOUT = 'img_dir/ and ann_dir/ under data_root, labels named like their images'
    #: Names `evaluate` accepts (the eval hook checks them before training starts).
    METRICS = ALLOWED_METRICS

    def __init__(self, pipeline: Sequence[dict], img_dir: str, img_suffix: Optional[str] = None,
                 ann_dir: Optional[str] = None, seg_map_suffix: Optional[str] = None,
                 split: Optional[str] = None, data_root: Optional[str] = None,
                 test_mode: bool = False, ignore_index: int = 255,
                 reduce_zero_label: bool = False, classes: Optional[Sequence[str]] = None,
                 palette: Optional[Sequence[Sequence[int]]] = None,
                 pl_dir: Optional[str] = None, pl_suffix: Optional[str] = None):
        if split is not None and not self.HAS_SPLITS:
            raise UserError(f'{self.__class__.__name__} has no split files; remove '
                            f'split={split!r} from the dataset config.')
        if pl_dir is not None:
            pipeline = collect_extra_key(insert_after_loading(pipeline, dict(
                type='LoadPseudoLabels')), 'pl', 'pl_dir')
        self.pipeline = Compose(pipeline)
        self.img_suffix = img_suffix if img_suffix is not None else self.IMG_SUFFIX
        self.seg_map_suffix = (seg_map_suffix if seg_map_suffix is not None
                               else self.SEG_MAP_SUFFIX)
        self.data_root = data_root
        self.img_dir = self._rooted(img_dir)
        self.ann_dir = self._rooted(ann_dir)
        self.split = self._rooted(split)
        self.test_mode = test_mode
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label
        self.label_map = None
        self.CLASSES, self.PALETTE = self.get_classes_and_palette(classes, palette)
        if self.ann_dir is not None and not osp.isdir(self.ann_dir) and not test_mode \
                and not any(t.get('type') == 'LoadAnnotations' for t in pipeline):
            # MIC's Dark Zurich config names a train label folder the dataset does not ship;
            # MIC never looked for it, and a pipeline without LoadAnnotations never reads it.
            self.ann_dir = None
        self._check_folders()
        self.img_infos = self.load_annotations(self.img_dir, self.img_suffix, self.ann_dir,
                                               self.seg_map_suffix, self.split)
        self.pl_dir = self._rooted(pl_dir)
        if self.pl_dir is not None:
            self._attach_pseudo_labels(pl_suffix if pl_suffix is not None
                                       else self.seg_map_suffix)
        self.gt_seg_map_loader = LoadAnnotations()

    def _rooted(self, path: Optional[str]) -> Optional[str]:
        if path is None or self.data_root is None or osp.isabs(path):
            return path
        return osp.join(self.data_root, path)

    def _layout_hint(self) -> str:
        hint = f'Expected layout: {self.LAYOUT}.'
        if self.CONVERTER:
            hint += f' Prepare it with `python {self.CONVERTER}` (see data/README).'
        return hint

    def _check_folders(self) -> None:
        """Name the first missing folder, the layout expected and the converter to run."""
        for what, path in (('data_root', self.data_root), ('img_dir', self.img_dir),
                           ('ann_dir', self.ann_dir)):
            if path is not None and not osp.isdir(path):
                raise UserError(f'{self.__class__.__name__}: {what} {path} does not exist. '
                                + self._layout_hint())
        if self.split is not None and not osp.isfile(self.split):
            raise UserError(f'{self.__class__.__name__}: split file {self.split} does not '
                            'exist. ' + self._layout_hint())

    def load_annotations(self, img_dir: str, img_suffix: str, ann_dir: Optional[str],
                         seg_map_suffix: str, split: Optional[str]) -> List[dict]:
        """`img_infos`: dicts with `filename` (relative to img_dir) and, with ann_dir,
        `ann.seg_map` (relative to ann_dir); every label file must exist."""
        if split is not None:
            with open(split) as f:
                stems = [line.strip() for line in f if line.strip()]
            names = [stem + img_suffix for stem in stems]
        else:
            names = sorted(mmcv.scandir(img_dir, img_suffix, recursive=True))
        if not names:
            raise UserError(f'{self.__class__.__name__}: no image ending in {img_suffix!r} in '
                            f'{img_dir}. ' + self._layout_hint())
        img_infos = []
        for name in names:
            info = dict(filename=name)
            if ann_dir is not None:
                info['ann'] = dict(seg_map=name[:-len(img_suffix)] + seg_map_suffix)
            img_infos.append(info)
        if ann_dir is not None:
            missing = [info for info in img_infos
                       if not osp.isfile(osp.join(ann_dir, info['ann']['seg_map']))]
            if missing:
                first = missing[0]
                raise UserError(
                    f'{len(missing)} of {len(img_infos)} images have no label file, e.g. image '
                    f'{osp.join(img_dir, first["filename"])} lacks '
                    f'{osp.join(ann_dir, first["ann"]["seg_map"])}. ' + self._layout_hint())
        print_log(f'Loaded {len(img_infos)} images from {img_dir}', logger='mmseg')
        return img_infos

    def _attach_pseudo_labels(self, pl_suffix: str) -> None:
        """`img_info['pl']`: each image's offline pseudo-label, relative to `pl_dir`."""
        missing = []
        for info in self.img_infos:
            info['pl'] = info['filename'][:-len(self.img_suffix)] + pl_suffix
            if not osp.isfile(osp.join(self.pl_dir, info['pl'])):
                missing.append(info['pl'])
        if missing:
            raise UserError(f'{len(missing)} of {len(self.img_infos)} images have no offline '
                            f'pseudo-label in pl_dir, e.g. {osp.join(self.pl_dir, missing[0])}; '
                            f'write one per image (train ids, named like the image with '
                            f'{pl_suffix!r}) or remove pl_dir from the dataset config.')

    def get_classes_and_palette(self, classes=None, palette=None) -> Tuple[tuple, list]:
        """Class names and palette; a subset of CLASSES sets `label_map` (dropped -> ignore)."""
        if classes is None:
            return self.CLASSES, self.PALETTE
        class_names = tuple(mmcv.list_from_file(classes)) if isinstance(classes, str) \
            else tuple(classes)
        if self.CLASSES:
            if not set(class_names).issubset(self.CLASSES):
                raise UserError(f'classes {class_names} are not a subset of {self.CLASSES}')
            self.label_map = {i: class_names.index(c) if c in class_names else self.ignore_index
                              for i, c in enumerate(self.CLASSES)}
        if palette is None:
            if self.PALETTE is not None and self.label_map is not None:
                palette = [self.PALETTE[self.CLASSES.index(c)] for c in class_names]
            else:
                palette = np.random.RandomState(42).randint(0, 255, (len(class_names), 3)).tolist()
        return class_names, palette

    def __len__(self) -> int:
        return len(self.img_infos)

    def pre_pipeline(self, results: dict) -> None:
        """Folders, an empty `seg_fields`, and the label-id check for LoadAnnotations."""
        results['img_prefix'] = self.img_dir
        results['seg_prefix'] = self.ann_dir
        results['seg_fields'] = []
        if self.pl_dir is not None:
            results['pl_prefix'] = self.pl_dir
        if self.label_map is not None:
            results['label_map'] = self.label_map
        if self.CLASSES:
            num_ids = len(self.label_map) if self.label_map is not None else len(self.CLASSES)
            results['label_check'] = dict(num_ids=num_ids + int(self.reduce_zero_label),
                                          converter=self.CONVERTER,
                                          ignore_index=self.ignore_index)

    def _results_for(self, idx: int) -> dict:
        img_info = self.img_infos[idx]
        results = dict(img_info=img_info)
        if 'ann' in img_info:
            results['ann_info'] = img_info['ann']
        self.pre_pipeline(results)
        return results

    def prepare_train_img(self, idx: int) -> dict:
        return self.pipeline(self._results_for(idx))

    def prepare_test_img(self, idx: int) -> dict:
        results = self._results_for(idx)
        results.pop('ann_info', None)
        return self.pipeline(results)

    def __getitem__(self, idx: int) -> dict:
        return self.prepare_test_img(idx) if self.test_mode else self.prepare_train_img(idx)

    def get_gt_seg_map_by_idx(self, idx: int) -> np.ndarray:
        """(H, W) uint8 label map of item `idx`, as stored (label_map applied, no reduction)."""
        results = self._results_for(idx)
        if 'ann_info' not in results:
            raise UserError(f'{self.__class__.__name__} has no ann_dir, so it cannot be '
                            'evaluated; set ann_dir in the dataset config.')
        return self.gt_seg_map_loader(results)['gt_semantic_seg']

    def get_gt_seg_maps(self) -> Iterator[np.ndarray]:
        """All label maps, loaded lazily one at a time."""
        return (self.get_gt_seg_map_by_idx(idx) for idx in range(len(self)))

    def pre_eval(self, preds: Union[Prediction, List[Prediction]],
                 indices: Union[int, List[int]]) -> list:
        """Per-image `intersect_and_union` tuples for (H, W) predictions at original size."""
        if not isinstance(preds, list):
            preds = [preds]
        if not isinstance(indices, list):
            indices = [indices]
        return [intersect_and_union(pred, self.get_gt_seg_map_by_idx(idx), len(self.CLASSES),
                                    self.ignore_index,
                                    reduce_zero_label=self.reduce_zero_label)
                for pred, idx in zip(preds, indices)]

    def evaluate(self, results: list, metric: Union[str, Sequence[str]] = 'mIoU', logger=None,
                 gt_seg_maps: Optional[Sequence[np.ndarray]] = None,
                 class_subsets: Union[None, str, Dict[str, Sequence[int]]] = None
                 ) -> Dict[str, float]:
        """Print MIC's per-class and summary tables and return the metrics as fractions.

        Args:
            results: per-image `pre_eval` tuples (streaming) or (H, W) predictions.
            metric: 'mIoU' and/or 'mDice'.
            gt_seg_maps: GT maps for predictions (default: the dataset's, loaded lazily).
            class_subsets: extra mean IoUs over class subsets, e.g. {'mIoU16': [...]}, or
                'synthia' for `SYNTHIA_CLASS_SUBSETS` (mIoU16 and mIoU13 of a Synthia→Cityscapes
                model); reported and returned under their names.

        Returns:
            `aAcc`, `m<Metric>`, `<Metric>.<class>` (and subset names) as Python floats; each is
            the percentage rounded to 2 decimals, divided by 100 (MIC); NaN for classes with
            union 0.
        """
        metric = check_metrics(metric)
        if results and isinstance(results[0], (tuple, list)):
            ret_metrics = pre_eval_to_metrics(results, metric)
        else:
            if gt_seg_maps is None:
                gt_seg_maps = self.get_gt_seg_maps()
            ret_metrics = eval_metrics(results, gt_seg_maps, len(self.CLASSES),
                                       self.ignore_index, metric,
                                       reduce_zero_label=self.reduce_zero_label)
        summary = OrderedDict((k, float(np.round(np.nanmean(v) * 100, 2)))
                              for k, v in ret_metrics.items())
        subsets = {}
        if class_subsets is not None and 'IoU' in ret_metrics:
            if class_subsets == 'synthia':
                class_subsets = SYNTHIA_CLASS_SUBSETS
            subsets = {k: float(np.round(v * 100, 2)) for k, v in
                       class_subset_metrics(ret_metrics['IoU'], class_subsets).items()}
        per_class = OrderedDict((k, np.round(v * 100, 2)) for k, v in ret_metrics.items()
                                if k != 'aAcc')

        self._log_tables(per_class, summary, subsets, logger)

        eval_results = {(k if k == 'aAcc' else 'm' + k): v / 100.0 for k, v in summary.items()}
        eval_results.update({k: v / 100.0 for k, v in subsets.items()})
        for key, values in per_class.items():
            eval_results.update({f'{key}.{name}': float(values[i]) / 100.0
                                 for i, name in enumerate(self.CLASSES)})
        return eval_results

    def _log_tables(self, per_class: Dict[str, np.ndarray], summary: Dict[str, float],
                    subsets: Dict[str, float], logger) -> None:
        """MIC's per-class table (percent, 2 decimals) and summary table (aAcc, mIoU, ...)."""
        class_table = PrettyTable()
        class_table.add_column('Class', list(self.CLASSES))
        for key, values in per_class.items():
            class_table.add_column(key, [float(v) for v in values])
        summary_table = PrettyTable()
        for key, value in summary.items():
            summary_table.add_column(key if key == 'aAcc' else 'm' + key, [value])
        for key, value in subsets.items():
            summary_table.add_column(key, [value])
        print_log('per class results:', logger)
        print_log('\n' + class_table.get_string(), logger=logger)
        print_log('Summary:', logger)
        print_log('\n' + summary_table.get_string(), logger=logger)

    def _export_map(self, result: np.ndarray, to_label_id: bool) -> Tuple[np.ndarray, List[int]]:
        """(H, W) uint8 map to write and its flat palette; Cityscapes adds label ids."""
        if to_label_id:
            raise UserError(f'to_label_id is only defined for Cityscapes-like datasets, not '
                            f'{self.__class__.__name__}; pass to_label_id=False.')
        return result.astype(np.uint8), [int(v) for rgb in self.PALETTE for v in rgb]

    def results2img(self, results: Sequence[Union[Prediction, str]], imgfile_prefix: str,
                    to_label_id: bool = False,
                    indices: Optional[Sequence[int]] = None) -> List[str]:
        """Write each (H, W) prediction (or .npy path) of the images `indices` (default: all, in
        order) as a paletted PNG `<prefix>/<image basename>.png`."""
        if indices is None:
            if len(results) != len(self):
                raise UserError(f'{len(results)} results for a dataset of {len(self)} images; '
                                'pass indices for a subset')
            indices = range(len(self))
        mmcv.mkdir_or_exist(imgfile_prefix)
        result_files = []
        for result, idx in zip(results, indices):
            if isinstance(result, str):
                result = np.load(result)
            elif isinstance(result, torch.Tensor):
                result = result.cpu().numpy()
            array, palette = self._export_map(result, to_label_id)
            basename = osp.splitext(osp.basename(self.img_infos[idx]['filename']))[0]
            png_filename = osp.join(imgfile_prefix, f'{basename}.png')
            output = Image.fromarray(array).convert('P')
            output.putpalette(palette)  # Pillow 13 wants a flat list of ints
            output.save(png_filename)
            result_files.append(png_filename)
        return result_files

    def format_results(self, results: Sequence[Union[Prediction, str]],
                       imgfile_prefix: Optional[str] = None, to_label_id: bool = False,
                       indices: Optional[Sequence[int]] = None
                       ) -> Tuple[List[str], Optional[tempfile.TemporaryDirectory]]:
        """Write predictions for submission or inspection (MIC's return value).

        Returns:
            (written files, the TemporaryDirectory holding them when `imgfile_prefix` is None,
            else None).
        """
        tmp_dir = None
        if imgfile_prefix is None:
            tmp_dir = tempfile.TemporaryDirectory()
            imgfile_prefix = tmp_dir.name
        return self.results2img(results, imgfile_prefix, to_label_id, indices), tmp_dir
