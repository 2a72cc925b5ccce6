"""Chain of pipeline transforms built from config dicts."""
import collections.abc
from typing import Callable, Optional, Sequence, Union

from mmcv.utils import build_from_cfg

from ..builder import PIPELINES


@PIPELINES.register_module()
class Compose:
    """Apply transforms in order; a transform returning None drops the sample (returns None).

    Args:
        transforms: config dicts (built from PIPELINES) or callables.
    """

    def __init__(self, transforms: Sequence[Union[dict, Callable]]):
        assert isinstance(transforms, collections.abc.Sequence)
        self.transforms = []
        for transform in transforms:
            if isinstance(transform, dict):
                transform = build_from_cfg(transform, PIPELINES)
            elif not callable(transform):
                raise TypeError(f'transform must be callable or a dict, got {type(transform)}')
            self.transforms.append(transform)

    def __call__(self, data: dict) -> Optional[dict]:
        for t in self.transforms:
            data = t(data)
            if data is None:
                return None
        return data

    def __repr__(self) -> str:
        body = ''.join(f'\n    {t}' for t in self.transforms)
        return f'{self.__class__.__name__}({body}\n)'
