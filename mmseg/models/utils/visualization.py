"""Debug-image helpers for the UDA classes (matplotlib figures rendered with Agg, no pyplot)."""
import os
from typing import Any, List, Optional, Sequence, Union

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

Array = Union[torch.Tensor, np.ndarray]


def _default_palette() -> List[List[int]]:
    # Imported lazily: debug images are optional and must not pull the evaluation package in.
    from ...core.evaluation.class_names import CITYSCAPES_PALETTE
    return [list(c) for c in CITYSCAPES_PALETTE]


def _to_numpy(img: Array) -> np.ndarray:
    """Tensor or array, (H, W), (1, H, W) or (3, H, W) -> numpy (H, W) or (H, W, 3)."""
    if torch.is_tensor(img):
        img = img.detach().float().cpu().numpy() if img.is_floating_point() \
            else img.detach().cpu().numpy()
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    elif img.ndim == 3 and img.shape[0] == 3:
        img = img.transpose(1, 2, 0)
    return img


def colorize_mask(mask: Array, palette: Optional[Sequence[Sequence[int]]] = None) -> np.ndarray:
    """Label map (H, W) -> RGB (H, W, 3) uint8; ids outside the palette (e.g. 255) are black.

    Args:
        palette: one [r, g, b] per class id; default Cityscapes.
    """
    mask = _to_numpy(mask).astype(np.int64)
    lut = np.zeros((256, 3), dtype=np.uint8)
    colors = np.asarray(palette if palette is not None else _default_palette(), dtype=np.uint8)
    lut[:len(colors)] = colors
    return lut[np.clip(mask, 0, 255)]


def subplotimg(ax: Any, img: Optional[Array], title: str, cmap: Optional[str] = None,
               **kw) -> None:
    """Show `img` on a matplotlib axis with `title`; None leaves the axis empty.

    Images are (3, H, W) RGB in [0, 1] (denormalise first), maps (H, W) or (1, H, W).
    `cmap='cityscapes'` colours a label map with `kw['palette']` (default Cityscapes); any other
    cmap and the remaining keywords (vmin, vmax, ...) go to `ax.imshow`.
    """
    ax.set_title(title)
    ax.axis('off')
    if img is None:
        return
    palette = kw.pop('palette', None)
    img = _to_numpy(img)
    if cmap == 'cityscapes':
        img = colorize_mask(img, palette)
    elif img.ndim == 3:
        img = np.clip(img, 0, 1)
    if cmap is not None and cmap != 'cityscapes':
        kw['cmap'] = cmap
    ax.imshow(img, **kw)


def save_debug_grid(path: str, rows: List[List[Optional[tuple]]],
                    palette: Optional[Sequence[Sequence[int]]] = None) -> None:
    """Save a grid of images, one `subplotimg` per cell, to `path` (parent folders created).

    Each cell is None (blank) or `(title, value)` or `(title, value, imshow_kwargs)`.
    Integer or bool values are label maps coloured with `palette` (unless the kwargs give a
    cmap); float (3, H, W) values are RGB images in [0, 1]; other float values are maps
    (e.g. pseudo weight with `dict(vmin=0, vmax=1)`).
    """
    n_cols = max(len(row) for row in rows)
    fig = Figure(figsize=(3 * n_cols, 3 * len(rows)))
    FigureCanvasAgg(fig)
    axs = fig.subplots(len(rows), n_cols, squeeze=False)
    for r, row in enumerate(rows):
        for c in range(n_cols):
            cell = row[c] if c < len(row) else None
            if cell is None:
                axs[r][c].axis('off')
                continue
            title, value, kw = (tuple(cell) + ({},))[:3]
            kw = dict(kw)
            is_float = value.is_floating_point() if torch.is_tensor(value) \
                else np.issubdtype(np.asarray(value).dtype, np.floating)
            if not is_float and 'cmap' not in kw:
                kw.update(cmap='cityscapes', palette=palette)
            subplotimg(axs[r][c], value, title, **kw)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
