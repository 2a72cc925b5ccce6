"""Shared pieces of the DeepLabV2 tests."""
import hashlib

# DeepLabV2's backbone arguments (configs/_base_/models/deeplabv2_r50-d8.py).
DEEPLAB = dict(dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), contract_dilation=True)
# A narrow ResNet for fast tests: same layout (every stage's block 0 changes the channel count,
# so it has a `downsample` shortcut, as in the full-width nets), ~1/256 of the weights.
NARROW = dict(stem_channels=8, base_channels=4)


def key_shape_digest(state_dict) -> str:
    """First 16 hex digits of sha256 over 'key:shape' lines, in state-dict order."""
    text = '\n'.join(f'{k}:{tuple(v.shape)}' for k, v in state_dict.items())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def uda_batch(size: int, batch_size: int = 2, valid_pseudo_mask: bool = True) -> dict:
    """A random UDA batch (source image + labels, target image) of `size` px images; the left
    half of each source label is one thing class (car), so the feature distance is active."""
    import torch
    g = torch.Generator().manual_seed(0)
    meta = dict(img_norm_cfg=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                                  to_rgb=True),
                img_shape=(size, size, 3), ori_shape=(size, size, 3), pad_shape=(size, size, 3),
                flip=False, scale_factor=1.0)
    gt = torch.randint(0, 19, (batch_size, 1, size, size), generator=g)
    gt[:, :, :, :size // 2] = 13
    batch = dict(img=torch.randn(batch_size, 3, size, size, generator=g),
                 img_metas=[dict(meta) for _ in range(batch_size)], gt_semantic_seg=gt,
                 target_img=torch.randn(batch_size, 3, size, size, generator=g),
                 target_img_metas=[dict(meta) for _ in range(batch_size)])
    if valid_pseudo_mask:
        batch['valid_pseudo_mask'] = torch.ones(batch_size, 1, size, size, dtype=torch.uint8)
    return batch
