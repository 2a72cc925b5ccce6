import numpy as np
import torch
from PIL import Image

from mmseg.models.utils.visualization import colorize_mask, save_debug_grid

PALETTE = [[10, 20, 30], [40, 50, 60]]


def test_colorize_mask_uses_palette_and_blacks_out_unknown_ids():
    rgb = colorize_mask(torch.tensor([[0, 1], [255, 1]]), PALETTE)
    expected = np.array([[[10, 20, 30], [40, 50, 60]], [[0, 0, 0], [40, 50, 60]]])
    assert rgb.dtype == np.uint8 and np.array_equal(rgb, expected)


def test_save_debug_grid_writes_one_png_with_every_cell(tmp_path):
    path = tmp_path / 'debug' / '000001.png'
    rows = [[('Source', torch.rand(3, 8, 8)), ('GT', torch.randint(0, 2, (1, 8, 8)))],
            [('Weight', torch.rand(8, 8), dict(vmin=0, vmax=1)), None]]
    save_debug_grid(str(path), rows, palette=PALETTE)
    with Image.open(path) as img:
        assert img.size == (600, 600)  # 3 inches per cell at 100 dpi
