"""Base segmentor: train/test dispatch, runner steps, loss parsing and result rendering."""
import os.path as osp
from abc import ABCMeta, abstractmethod
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
import torch.distributed as dist
from mmcv.runner import BaseModule
from PIL import Image


class BaseSegmentor(BaseModule, metaclass=ABCMeta):
    """Segmentor interface of MMSegmentation 0.x.

    `forward(img, img_metas, return_loss=True, **kw)` dispatches to `forward_train` or
    `forward_test`; `train_step` / `val_step` serve mmcv's runner. `CLASSES` and `PALETTE` are
    set by the test tools (from the checkpoint meta or the dataset).
    """

    def __init__(self, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        self.fp16_enabled = False
        self.CLASSES: Optional[Sequence[str]] = None
        self.PALETTE: Optional[Sequence[Sequence[int]]] = None

    @property
    def with_neck(self) -> bool:
        return getattr(self, 'neck', None) is not None

    @property
    def with_auxiliary_head(self) -> bool:
        return getattr(self, 'auxiliary_head', None) is not None

    @property
    def with_decode_head(self) -> bool:
        return getattr(self, 'decode_head', None) is not None

    @abstractmethod
    def extract_feat(self, img: torch.Tensor) -> List[torch.Tensor]:
        """(B, 3, H, W) -> backbone (and neck) feature maps."""

    @abstractmethod
    def encode_decode(self, img: torch.Tensor, img_metas: List[dict]) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, H, W) logits at the input size."""

    @abstractmethod
    def forward_train(self, img: torch.Tensor, img_metas: List[dict], **kwargs) -> dict:
        """Dict of losses (and optional extras)."""

    @abstractmethod
    def simple_test(self, img: torch.Tensor, img_meta: List[dict], **kwargs) -> list:
        """Predictions of one augmentation."""

    @abstractmethod
    def aug_test(self, imgs: List[torch.Tensor], img_metas: List[List[dict]], **kwargs) -> list:
        """Predictions averaged over augmentations."""

    def forward_test(self, imgs: List[torch.Tensor], img_metas: List[List[dict]], **kwargs):
        """One entry per test-time augmentation; a single one goes to `simple_test`."""
        for var, name in [(imgs, 'imgs'), (img_metas, 'img_metas')]:
            if not isinstance(var, list):
                raise TypeError(f'{name} must be a list, but got {type(var)}')
        if len(imgs) != len(img_metas):
            raise ValueError(f'num of augmentations ({len(imgs)}) != num of image meta '
                             f'({len(img_metas)})')
        for img_meta in img_metas:
            for key in ('ori_shape', 'img_shape', 'pad_shape'):
                shapes = [m[key] for m in img_meta if key in m]
                assert all(s == shapes[0] for s in shapes), f'images differ in {key}'
        if len(imgs) == 1:
            return self.simple_test(imgs[0], img_metas[0], **kwargs)
        return self.aug_test(imgs, img_metas, **kwargs)

    def forward(self, img, img_metas, return_loss: bool = True, **kwargs):
        """`forward_train(img, img_metas, **kwargs)` or `forward_test(img, img_metas, **kwargs)`."""
        if return_loss:
            return self.forward_train(img, img_metas, **kwargs)
        return self.forward_test(img, img_metas, **kwargs)

    def train_step(self, data_batch: dict, optimizer=None, **kwargs) -> dict:
        """One plain (non-UDA) training forward; the runner's optimizer hook does backward."""
        losses = self(**data_batch)
        loss, log_vars = self._parse_losses(losses)
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data_batch['img_metas']))

    def val_step(self, data_batch: dict, **kwargs):
        return self(**data_batch, **kwargs)

    @staticmethod
    def _parse_losses(losses: Dict[str, object]) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Total loss = sum of the entries whose key contains 'loss'; all tensors are logged.

        Tensors are averaged, lists of tensors summed over their means; entries of other types
        (e.g. `decoder_feat`) are skipped unless their key contains 'loss'. Logged values are
        averaged over processes in distributed runs.
        """
        log_vars = OrderedDict()
        for name, value in losses.items():
            if isinstance(value, torch.Tensor):
                log_vars[name] = value.mean()
            elif isinstance(value, list) and all(isinstance(v, torch.Tensor) for v in value):
                log_vars[name] = sum(v.mean() for v in value)
            elif 'loss' in name:
                raise TypeError(f'{name} is not a tensor or list of tensors')
        loss = sum(value for name, value in log_vars.items() if 'loss' in name)
        log_vars['loss'] = loss
        for name, value in log_vars.items():
            if dist.is_available() and dist.is_initialized():
                value = value.data.clone()
                dist.all_reduce(value.div_(dist.get_world_size()))
            log_vars[name] = value.item() if torch.is_tensor(value) else float(value)
        return loss, log_vars

    def show_result(self, img, result: list, palette=None, win_name: str = '', show: bool = False,
                    wait_time: int = 0, out_file: Optional[str] = None,
                    opacity: float = 0.5) -> Optional[np.ndarray]:
        """Render `result[0]`, an (H, W) train-id map.

        With `opacity == 1` and an `out_file`, writes a paletted PNG of train ids (what MIC's
        `--show-dir --opacity 1` produces); otherwise blends the colour map over `img` (BGR)
        and writes/shows it. Returns the rendered BGR image when neither shown nor written.
        """
        assert 0 < opacity <= 1.0
        seg = np.asarray(result[0])
        palette = self._palette(palette, seg)
        if opacity == 1 and out_file is not None:
            mmcv.mkdir_or_exist(osp.dirname(osp.abspath(out_file)))
            png = Image.fromarray(seg.astype(np.uint8)).convert('P')
            png.putpalette([int(c) for c in palette.reshape(-1)])  # Pillow 13: flat list of ints
            png.save(out_file)
            return None
        color_seg = np.zeros((*seg.shape, 3), dtype=np.uint8)
        for label, color in enumerate(palette):
            color_seg[seg == label] = color
        image = mmcv.imread(img).copy()
        image = (image * (1 - opacity) + color_seg[..., ::-1] * opacity).astype(np.uint8)
        if out_file is not None:
            mmcv.imwrite(image, out_file)
        if show:
            mmcv.imshow(image, win_name, wait_time)
        return None if (show or out_file is not None) else image

    def _palette(self, palette, seg: np.ndarray) -> np.ndarray:
        """(N, 3) uint8 palette: the argument, else `PALETTE`, else random colours."""
        palette = palette if palette is not None else self.PALETTE
        if palette is None:
            num = len(self.CLASSES) if self.CLASSES else int(seg.max()) + 1
            palette = np.random.randint(0, 255, size=(num, 3))
        palette = np.asarray(palette, dtype=np.uint8)
        assert palette.ndim == 2 and palette.shape[1] == 3, 'palette must be (N, 3)'
        return palette
