"""Geometric and photometric train/test transforms (MMSeg 0.x semantics, numpy RNG).

Every geometric transform applies the same operation to `results['img']` and to each key in
`results['seg_fields']` (GT, `valid_pseudo_mask`, ...); seg fields use nearest interpolation.
"""
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np

from ..builder import PIPELINES

Scale = Tuple[int, int]


def as_scale_list(img_scale) -> Optional[List[Scale]]:
    """Accept one (w, h) pair or a list of pairs; mmcv Config may turn tuples into lists."""
    if img_scale is None:
        return None
    if len(img_scale) == 2 and all(isinstance(v, (int, float)) for v in img_scale):
        return [tuple(img_scale)]
    return [tuple(s) for s in img_scale]


@PIPELINES.register_module()
class Resize:
    """Resize the image and seg fields to `results['scale']`, drawn here if not set.

    Scale selection (as MMSeg): with `ratio_range`, one base scale (or the image's own size when
    `img_scale` is None) times a ratio drawn uniformly from the range; with one scale, that scale;
    with several, 'range' draws long and short edges uniformly between them and 'value' picks one.

    Args:
        img_scale: (w, h) or a list of them; with keep_ratio, (long, short) edge limits. None
            when `results['scale']` is set upstream (MultiScaleFlipAug).
        multiscale_mode: 'range' or 'value'.
        ratio_range: (min, max) ratio.
        keep_ratio: mmcv.imrescale (largest size fitting in the scale) instead of imresize.
    """

    def __init__(self, img_scale=None, multiscale_mode: str = 'range',
                 ratio_range: Optional[Sequence[float]] = None, keep_ratio: bool = True):
        self.img_scale = as_scale_list(img_scale)
        if ratio_range is not None:
            assert self.img_scale is None or len(self.img_scale) == 1
        assert multiscale_mode in ('value', 'range')
        self.multiscale_mode = multiscale_mode
        self.ratio_range = ratio_range
        self.keep_ratio = keep_ratio

    @staticmethod
    def random_select(img_scales: List[Scale]) -> Tuple[Scale, int]:
        idx = np.random.randint(len(img_scales))
        return img_scales[idx], idx

    @staticmethod
    def random_sample(img_scales: List[Scale]) -> Tuple[Scale, None]:
        assert len(img_scales) == 2
        longs = [max(s) for s in img_scales]
        shorts = [min(s) for s in img_scales]
        long_edge = np.random.randint(min(longs), max(longs) + 1)
        short_edge = np.random.randint(min(shorts), max(shorts) + 1)
        return (long_edge, short_edge), None

    @staticmethod
    def random_sample_ratio(img_scale: Scale, ratio_range: Sequence[float]) -> Tuple[Scale, None]:
        min_ratio, max_ratio = ratio_range
        assert min_ratio <= max_ratio
        ratio = np.random.random_sample() * (max_ratio - min_ratio) + min_ratio
        return (int(img_scale[0] * ratio), int(img_scale[1] * ratio)), None

    def _random_scale(self, results: dict) -> None:
        if self.ratio_range is not None:
            if self.img_scale is None:
                h, w = results['img'].shape[:2]
                scale, idx = self.random_sample_ratio((w, h), self.ratio_range)
            else:
                scale, idx = self.random_sample_ratio(self.img_scale[0], self.ratio_range)
        elif len(self.img_scale) == 1:
            scale, idx = self.img_scale[0], 0
        elif self.multiscale_mode == 'range':
            scale, idx = self.random_sample(self.img_scale)
        else:
            scale, idx = self.random_select(self.img_scale)
        results['scale'] = scale
        results['scale_idx'] = idx

    def _resize(self, img: np.ndarray, scale: Scale, interpolation: str) -> np.ndarray:
        if self.keep_ratio:
            return mmcv.imrescale(img, scale, interpolation=interpolation)
        return mmcv.imresize(img, scale, interpolation=interpolation)

    def __call__(self, results: dict) -> dict:
        if 'scale' not in results:
            self._random_scale(results)
        h, w = results['img'].shape[:2]
        img = self._resize(results['img'], results['scale'], 'bilinear')
        w_scale, h_scale = img.shape[1] / w, img.shape[0] / h
        results['img'] = img
        results['img_shape'] = img.shape
        results['pad_shape'] = img.shape
        results['scale_factor'] = np.array([w_scale, h_scale, w_scale, h_scale],
                                           dtype=np.float32)
        results['keep_ratio'] = self.keep_ratio
        for key in results.get('seg_fields', []):
            results[key] = self._resize(results[key], results['scale'], 'nearest')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(img_scale={self.img_scale}, '
                f'multiscale_mode={self.multiscale_mode}, ratio_range={self.ratio_range}, '
                f'keep_ratio={self.keep_ratio})')


@PIPELINES.register_module()
class RandomFlip:
    """Flip image and seg fields with probability `prob` (unless `results['flip']` is set).

    Args:
        prob: flip probability (None = never, for test pipelines where MultiScaleFlipAug sets
            `results['flip']`).
        direction: 'horizontal' or 'vertical'.
    """

    def __init__(self, prob: Optional[float] = None, direction: str = 'horizontal'):
        assert prob is None or 0 <= prob <= 1
        assert direction in ('horizontal', 'vertical')
        self.prob = prob
        self.direction = direction

    def __call__(self, results: dict) -> dict:
        if 'flip' not in results:
            results['flip'] = self.prob is not None and np.random.rand() < self.prob
        if 'flip_direction' not in results:
            results['flip_direction'] = self.direction
        if results['flip']:
            direction = results['flip_direction']
            results['img'] = mmcv.imflip(results['img'], direction=direction)
            for key in results.get('seg_fields', []):
                results[key] = mmcv.imflip(results[key], direction=direction).copy()
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob}, direction={self.direction})'


@PIPELINES.register_module()
class Pad:
    """Pad the image (with `pad_val`) and seg fields (with `seg_pad_val`) at bottom/right.

    Args:
        size: (h, w) target size; or
        size_divisor: pad h and w up to multiples of it.
    """

    def __init__(self, size: Optional[Sequence[int]] = None, size_divisor: Optional[int] = None,
                 pad_val: float = 0, seg_pad_val: int = 255):
        assert (size is None) != (size_divisor is None), 'give exactly one of size, size_divisor'
        self.size = tuple(size) if size is not None else None
        self.size_divisor = size_divisor
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    def __call__(self, results: dict) -> dict:
        if self.size is not None:
            padded = mmcv.impad(results['img'], shape=self.size, pad_val=self.pad_val)
        else:
            padded = mmcv.impad_to_multiple(results['img'], self.size_divisor,
                                            pad_val=self.pad_val)
        results['img'] = padded
        results['pad_shape'] = padded.shape
        results['pad_fixed_size'] = self.size
        results['pad_size_divisor'] = self.size_divisor
        for key in results.get('seg_fields', []):
            results[key] = mmcv.impad(results[key], shape=padded.shape[:2],
                                      pad_val=self.seg_pad_val)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, size_divisor={self.size_divisor}, '
                f'pad_val={self.pad_val}, seg_pad_val={self.seg_pad_val})')


@PIPELINES.register_module()
class Normalize:
    """(img - mean) / std as float32; `to_rgb` first converts MIC's BGR image to RGB."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], to_rgb: bool = True):
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        self.to_rgb = to_rgb

    def __call__(self, results: dict) -> dict:
        results['img'] = mmcv.imnormalize(results['img'], self.mean, self.std, self.to_rgb)
        results['img_norm_cfg'] = dict(mean=self.mean, std=self.std, to_rgb=self.to_rgb)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mean={self.mean.tolist()}, '
                f'std={self.std.tolist()}, to_rgb={self.to_rgb})')


@PIPELINES.register_module()
class RandomCrop:
    """Random crop of image and seg fields; boxes that are too uniform are redrawn.

    With `cat_max_ratio` < 1, up to 10 boxes are redrawn until the GT crop holds at least 2
    non-ignore classes and the most frequent one covers < cat_max_ratio of the non-ignore
    pixels; after 10 failures the 11th box is used unchecked (MMSeg).

    Args:
        crop_size: (h, w).
    """

    def __init__(self, crop_size: Sequence[int], cat_max_ratio: float = 1.,
                 ignore_index: int = 255):
        assert crop_size[0] > 0 and crop_size[1] > 0
        self.crop_size = tuple(crop_size)
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def get_crop_bbox(self, img: np.ndarray) -> Tuple[int, int, int, int]:
        """(y1, y2, x1, x2) of a uniformly placed box."""
        margin_h = max(img.shape[0] - self.crop_size[0], 0)
        margin_w = max(img.shape[1] - self.crop_size[1], 0)
        offset_h = np.random.randint(0, margin_h + 1)
        offset_w = np.random.randint(0, margin_w + 1)
        return offset_h, offset_h + self.crop_size[0], offset_w, offset_w + self.crop_size[1]

    @staticmethod
    def crop(img: np.ndarray, crop_bbox: Tuple[int, int, int, int]) -> np.ndarray:
        y1, y2, x1, x2 = crop_bbox
        return img[y1:y2, x1:x2, ...]

    def _is_diverse(self, seg: np.ndarray) -> bool:
        labels, cnt = np.unique(seg, return_counts=True)
        cnt = cnt[labels != self.ignore_index]
        return len(cnt) > 1 and np.max(cnt) / np.sum(cnt) < self.cat_max_ratio

    def __call__(self, results: dict) -> dict:
        img = results['img']
        crop_bbox = self.get_crop_bbox(img)
        if self.cat_max_ratio < 1.:
            for _ in range(10):
                if self._is_diverse(self.crop(results['gt_semantic_seg'], crop_bbox)):
                    break
                crop_bbox = self.get_crop_bbox(img)
        img = self.crop(img, crop_bbox)
        results['img'] = img
        results['img_shape'] = img.shape
        for key in results.get('seg_fields', []):
            results[key] = self.crop(results[key], crop_bbox)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'cat_max_ratio={self.cat_max_ratio})')


@PIPELINES.register_module()
class PhotoMetricDistortion:
    """MMSeg's colour jitter on the uint8 BGR image, each step with probability 0.5.

    Order: brightness, then contrast either before or after (coin flip) saturation and hue.
    Unused by MIC's configs (colour augmentation happens in DACS), kept for source-only configs.
    """

    def __init__(self, brightness_delta: int = 32, contrast_range: Sequence[float] = (0.5, 1.5),
                 saturation_range: Sequence[float] = (0.5, 1.5), hue_delta: int = 18):
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    @staticmethod
    def convert(img: np.ndarray, alpha: float = 1, beta: float = 0) -> np.ndarray:
        return np.clip(img.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)

    def brightness(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            return self.convert(img, beta=np.random.uniform(-self.brightness_delta,
                                                            self.brightness_delta))
        return img

    def contrast(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            return self.convert(img, alpha=np.random.uniform(self.contrast_lower,
                                                             self.contrast_upper))
        return img

    def saturation(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            img = mmcv.bgr2hsv(img)
            img[:, :, 1] = self.convert(img[:, :, 1], alpha=np.random.uniform(
                self.saturation_lower, self.saturation_upper))
            img = mmcv.hsv2bgr(img)
        return img

    def hue(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            img = mmcv.bgr2hsv(img)
            shift = np.random.randint(-self.hue_delta, self.hue_delta)
            img[:, :, 0] = (img[:, :, 0].astype(int) + shift) % 180
            img = mmcv.hsv2bgr(img)
        return img

    def __call__(self, results: dict) -> dict:
        img = self.brightness(results['img'])
        contrast_first = np.random.randint(2) == 1
        if contrast_first:
            img = self.contrast(img)
        img = self.hue(self.saturation(img))
        if not contrast_first:
            img = self.contrast(img)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(brightness_delta={self.brightness_delta}, '
                f'contrast_range=({self.contrast_lower}, {self.contrast_upper}), '
                f'saturation_range=({self.saturation_lower}, {self.saturation_upper}), '
                f'hue_delta={self.hue_delta})')
