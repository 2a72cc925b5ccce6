"""Image and label loading (MIC: images with cv2 as BGR, labels with Pillow 'unchanged')."""
import os.path as osp
from typing import Optional, Tuple

import mmcv
import numpy as np

from ...utils.errors import UserError
from ..builder import PIPELINES


def read_image_file(file_client: mmcv.FileClient, prefix: Optional[str], rel: str, what: str,
                    flag: str, backend: str) -> Tuple[str, np.ndarray]:
    """Read and decode `prefix/rel`; a missing or corrupt file is a UserError naming it.

    Returns:
        (filename, decoded array).
    """
    filename = osp.join(prefix, rel) if prefix is not None else rel
    try:
        img_bytes = file_client.get(filename)
    except FileNotFoundError:
        raise UserError(f'{what} file not found: {filename}') from None
    try:
        img = mmcv.imfrombytes(img_bytes, flag=flag, backend=backend)
    except Exception as e:  # Pillow and other backends raise on corrupt bytes
        raise UserError(f'cannot decode {what} {filename} ({e}); the file is corrupt or not '
                        'an image') from None
    if img is None:  # cv2 returns None on corrupt bytes
        raise UserError(f'cannot decode {what} {filename}; the file is corrupt or not an image')
    return filename, img


def check_label_ids(label: np.ndarray, filename: str, num_ids: int,
                    converter: Optional[str] = None, ignore_index: int = 255) -> None:
    """Refuse a label map that is not a single-channel map of ids in [0, num_ids) ∪ {ignore}.

    Raw (unconverted) labels, colour PNGs or 16-bit Synthia GT are the usual cause, so the
    message names the converter that produces the `*labelTrainIds.png` files.
    """
    fix = (f'run `python {converter}` on the dataset' if converter else
           'convert the labels to train ids (0..num_classes-1, 255 = ignore)')
    if label.ndim != 2:
        raise UserError(f'label {filename} has shape {label.shape}; a single-channel train-id '
                        f'PNG is expected; {fix}.')
    bad = (label >= num_ids) & (label != ignore_index)
    if bad.any():
        ids = sorted(int(v) for v in np.unique(label[bad]))[:10]
        raise UserError(f'label {filename} contains ids {ids} outside [0, {num_ids}) and '
                        f'{ignore_index}; {fix}.')


@PIPELINES.register_module()
class LoadImageFromFile:
    """Load `img_prefix/img_info.filename` into `results['img']` ((H, W, 3) uint8, BGR).

    Args:
        to_float32: convert to float32.
        color_type: mmcv imread flag.
        file_client_args: mmcv FileClient arguments.
        imdecode_backend: mmcv decoding backend ('cv2' as MIC, giving BGR).
    """

    def __init__(self, to_float32: bool = False, color_type: str = 'color',
                 file_client_args: Optional[dict] = None, imdecode_backend: str = 'cv2'):
        self.to_float32 = to_float32
        self.color_type = color_type
        self.file_client_args = dict(file_client_args or dict(backend='disk'))
        self.file_client = None
        self.imdecode_backend = imdecode_backend

    def __call__(self, results: dict) -> dict:
        if self.file_client is None:
            self.file_client = mmcv.FileClient(**self.file_client_args)
        rel = results['img_info']['filename']
        filename, img = read_image_file(self.file_client, results.get('img_prefix'), rel,
                                        'image', self.color_type, self.imdecode_backend)
        if self.to_float32:
            img = img.astype(np.float32)
        results['filename'] = filename
        results['ori_filename'] = rel
        results['img'] = img
        results['img_shape'] = img.shape
        results['ori_shape'] = img.shape
        results['pad_shape'] = img.shape
        results['scale_factor'] = 1.0
        num_channels = 1 if img.ndim < 3 else img.shape[2]
        results['img_norm_cfg'] = dict(mean=np.zeros(num_channels, dtype=np.float32),
                                       std=np.ones(num_channels, dtype=np.float32), to_rgb=False)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', imdecode_backend='{self.imdecode_backend}')")


@PIPELINES.register_module()
class LoadAnnotations:
    """Load `seg_prefix/ann_info.seg_map` into `results['gt_semantic_seg']` ((H, W) uint8).

    The label is read 'unchanged' with Pillow (MIC). When the dataset put `label_check` into
    `results` (see `CustomDataset.pre_pipeline`), the raw ids are validated first.

    Args:
        reduce_zero_label: id 0 becomes 255 and the other ids shift down by one (ADE-style).
        file_client_args: mmcv FileClient arguments.
        imdecode_backend: mmcv decoding backend.
    """

    def __init__(self, reduce_zero_label: bool = False, file_client_args: Optional[dict] = None,
                 imdecode_backend: str = 'pillow'):
        self.reduce_zero_label = reduce_zero_label
        self.file_client_args = dict(file_client_args or dict(backend='disk'))
        self.file_client = None
        self.imdecode_backend = imdecode_backend

    def read_checked(self, results: dict, prefix: Optional[str], rel: str, what: str,
                     converter_hint: bool = True) -> np.ndarray:
        """Read a single-channel id map and validate its ids (`label_check`)."""
        if self.file_client is None:
            self.file_client = mmcv.FileClient(**self.file_client_args)
        filename, raw = read_image_file(self.file_client, prefix, rel, what, 'unchanged',
                                        self.imdecode_backend)
        raw = raw.squeeze()
        if 'label_check' in results:
            check = dict(results['label_check'])
            if not converter_hint:
                check['converter'] = None
            check_label_ids(raw, filename, **check)
        return raw

    def __call__(self, results: dict) -> dict:
        raw = self.read_checked(results, results.get('seg_prefix'),
                                results['ann_info']['seg_map'], 'label')
        gt_semantic_seg = raw.astype(np.uint8)
        if results.get('label_map'):
            mapped = gt_semantic_seg.copy()
            for old_id, new_id in results['label_map'].items():
                mapped[gt_semantic_seg == old_id] = new_id
            gt_semantic_seg = mapped
        if self.reduce_zero_label:
            gt_semantic_seg[gt_semantic_seg == 0] = 255
            gt_semantic_seg = gt_semantic_seg - 1
            gt_semantic_seg[gt_semantic_seg == 254] = 255
        results['gt_semantic_seg'] = gt_semantic_seg
        results['seg_fields'].append('gt_semantic_seg')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(reduce_zero_label={self.reduce_zero_label}, '
                f"imdecode_backend='{self.imdecode_backend}')")


@PIPELINES.register_module()
class LoadPseudoLabels(LoadAnnotations):
    """Load the offline pseudo-label `pl_prefix/img_info.pl` into `results['pl']` ((H, W) uint8).

    Inserted by a dataset with `pl_dir` after its loading transforms, so the map is resized,
    cropped, flipped and padded (255) with the image as a seg field. Read and checked like the
    labels; no label_map or zero-label reduction is applied: the maps hold the dataset's train
    ids.
    """

    def __call__(self, results: dict) -> dict:
        raw = self.read_checked(results, results.get('pl_prefix'), results['img_info']['pl'],
                                'offline pseudo-label', converter_hint=False)
        results['pl'] = raw.astype(np.uint8)
        results['seg_fields'].append('pl')
        return results
