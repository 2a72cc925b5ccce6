"""Test-time augmentation: run the inner transforms once per (scale, flip, direction)."""
from typing import List, Optional, Sequence, Union

from ..builder import PIPELINES
from .compose import Compose
from .transforms import as_scale_list


@PIPELINES.register_module()
class MultiScaleFlipAug:
    """Set `scale`/`flip`/`flip_direction` and apply `transforms` for each combination.

    Returns a dict whose values are lists (one entry per augmentation).

    Args:
        transforms: inner pipeline (Resize, RandomFlip, Normalize, ImageToTensor, Collect).
        img_scale: (w, h) or a list of them; None with `img_ratios` = ratios of the image size.
        img_ratios: scale multipliers applied to a single `img_scale` (`--aug-test`).
        flip: also run flipped copies.
        flip_direction: 'horizontal' and/or 'vertical'.
    """

    def __init__(self, transforms: Sequence[dict], img_scale=None,
                 img_ratios: Optional[Union[float, Sequence[float]]] = None, flip: bool = False,
                 flip_direction: Union[str, Sequence[str]] = 'horizontal'):
        self.transforms = Compose(transforms)
        if img_ratios is not None:
            self.img_ratios = list(img_ratios) if isinstance(img_ratios, (list, tuple)) \
                else [img_ratios]
            if img_scale is not None:
                w, h = img_scale
                self.img_scale = [(int(w * r), int(h * r)) for r in self.img_ratios]
            else:
                self.img_scale = None
        else:
            assert img_scale is not None, 'MultiScaleFlipAug needs img_scale or img_ratios'
            self.img_ratios = None
            self.img_scale = as_scale_list(img_scale)
        self.flip = flip
        self.flip_direction = [flip_direction] if isinstance(flip_direction, str) \
            else list(flip_direction)

    def _scales(self, results: dict) -> List[tuple]:
        if self.img_scale is not None:
            return self.img_scale
        h, w = results['img'].shape[:2]
        return [(int(w * r), int(h * r)) for r in self.img_ratios]

    def __call__(self, results: dict) -> dict:
        aug_data = []
        for scale in self._scales(results):
            for flip in ([False, True] if self.flip else [False]):
                for direction in self.flip_direction:
                    _results = results.copy()
                    _results.update(scale=scale, flip=flip, flip_direction=direction)
                    aug_data.append(self.transforms(_results))
        return {key: [data[key] for data in aug_data] for key in aug_data[0]}

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(transforms={self.transforms}, '
                f'img_scale={self.img_scale}, flip={self.flip}, '
                f'flip_direction={self.flip_direction})')
