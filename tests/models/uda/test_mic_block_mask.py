import pytest
import torch

from mmseg.models.utils.masking_transforms import BlockMaskGenerator, build_mask_generator
from mmseg.utils.errors import UserError


def _assert_constant_blocks(mask, bh, bw):
    b, _, h, w = mask.shape
    blocks = mask.view(b, h // bh, bh, w // bw, bw)
    assert torch.all(blocks == blocks[:, :, :1, :, :1])


def test_mask_is_binary_and_constant_within_blocks():
    gen = BlockMaskGenerator(mask_ratio=0.7, mask_block_size=16)
    mask = gen.generate_mask(torch.zeros(2, 3, 64, 96))
    assert mask.shape == (2, 1, 64, 96)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    _assert_constant_blocks(mask, 16, 16)


def test_block_grid_uses_python_round():
    # 72 / 16 = 4.5 -> round() gives 4 cells, so blocks are 72 / 4 = 18 rows high
    gen = BlockMaskGenerator(mask_ratio=0.5, mask_block_size=16)
    mask = gen.generate_mask(torch.zeros(8, 3, 72, 32))
    _assert_constant_blocks(mask, 18, 16)


def test_fraction_of_kept_blocks_is_one_minus_ratio():
    gen = BlockMaskGenerator(mask_ratio=0.7, mask_block_size=8)
    kept = torch.stack([gen.generate_mask(torch.zeros(1, 3, 128, 128)).mean()
                        for _ in range(200)])
    assert kept.mean().item() == pytest.approx(0.3, abs=0.01)


def test_mask_image_zeroes_dropped_blocks_without_grad():
    torch.manual_seed(1)
    imgs = torch.randn(2, 3, 32, 32, requires_grad=True)
    gen = BlockMaskGenerator(mask_ratio=0.7, mask_block_size=8)
    torch.manual_seed(3)
    masked = gen.mask_image(imgs)
    torch.manual_seed(3)
    mask = gen.generate_mask(imgs)
    assert not masked.requires_grad
    assert torch.equal(masked, imgs.detach() * mask)


def test_build_mask_generator():
    cfg = dict(type='block', mask_ratio=0.7, mask_block_size=64)
    gen = build_mask_generator(cfg)
    assert (gen.mask_ratio, gen.mask_block_size) == (0.7, 64)
    assert cfg['type'] == 'block', 'the config is not mutated'
    assert build_mask_generator(None) is None
    with pytest.raises(UserError, match="type='block'"):
        build_mask_generator(dict(type='random', mask_ratio=0.7))
    with pytest.raises(UserError, match='mask_generator'):
        build_mask_generator(dict(type='block', mask_ratio=0.7))
