"""Build a segmentor for inference from a config + checkpoint and run it on loose images."""
from typing import List, Optional, Sequence, Union

import mmcv
import numpy as np
import torch
from mmcv.parallel import collate

from ..datasets.pipelines import Compose
from ..models import build_segmentor
from ..utils.checkpoint import load_segmentor_checkpoint
from .config_checks import build_with_clear_errors, load_config
from ..utils.device import default_device, to_device


def init_segmentor(config: Union[str, mmcv.Config], checkpoint: Optional[str] = None,
                   device: Optional[str] = None, which: str = 'model',
                   unsafe: bool = False) -> torch.nn.Module:
    """Build the test segmentor of `config` (its `model`, also for UDA configs) and load weights.

    As MIC's tools/test.py: no ImageNet init (`pretrained=None`), no train_cfg. `which` picks the
    student ('model', what MIC evaluates) or the EMA teacher ('ema_model') of a UDA checkpoint;
    `unsafe` allows checkpoints that need full unpickling. CLASSES/PALETTE come from the
    checkpoint meta when it has them (None otherwise).

    Args:
        device: where the model goes; None = `default_device()`.
    """
    if not isinstance(config, mmcv.Config):
        config = load_config(config)
    config.model.pretrained = None
    config.model.train_cfg = None
    model = build_with_clear_errors(
        lambda cfg: build_segmentor(cfg, test_cfg=config.get('test_cfg')), config.model, 'model')
    meta = {}
    if checkpoint is not None:
        meta = load_segmentor_checkpoint(model, checkpoint, which=which, unsafe=unsafe)
    model.CLASSES = meta.get('CLASSES')
    model.PALETTE = meta.get('PALETTE')
    model.cfg = config
    model.to(device or default_device())
    model.eval()
    return model


class LoadImage:
    """Pipeline step that accepts a file name or an already loaded (H, W, 3) BGR array."""

    def __call__(self, results: dict) -> dict:
        name = results['img'] if isinstance(results['img'], str) else None
        results['filename'] = results['ori_filename'] = name
        img = mmcv.imread(results['img'])
        results['img'] = img
        results['img_shape'] = results['ori_shape'] = img.shape
        return results


def inference_segmentor(model: torch.nn.Module,
                        imgs: Union[str, np.ndarray, Sequence[Union[str, np.ndarray]]]
                        ) -> List[np.ndarray]:
    """Segment image(s) with the test pipeline of `model.cfg`: a list of (H, W) train-id maps.

    The config's first test step (loading from the data folder) is replaced by `LoadImage`.
    """
    cfg = model.cfg
    device = next(model.parameters()).device
    pipeline = Compose([LoadImage()] + list(cfg.data.test.pipeline[1:]))
    imgs = list(imgs) if isinstance(imgs, (list, tuple)) else [imgs]
    data = collate([pipeline(dict(img=img)) for img in imgs], samples_per_gpu=len(imgs))
    data = to_device(data, device)
    with torch.no_grad():
        return model(return_loss=False, rescale=True, **data)


def show_result_pyplot(model: torch.nn.Module, img: Union[str, np.ndarray],
                       result: List[np.ndarray], palette: Optional[Sequence] = None,
                       fig_size: tuple = (15, 10), opacity: float = 0.5, title: str = '',
                       block: bool = True) -> None:
    """Show `result` blended over `img` in a matplotlib window."""
    import matplotlib.pyplot as plt
    model = getattr(model, 'module', model)
    img = model.show_result(img, result, palette=palette, show=False, opacity=opacity)
    plt.figure(figsize=fig_size)
    plt.imshow(mmcv.bgr2rgb(img))
    plt.title(title)
    plt.tight_layout()
    plt.show(block=block)
