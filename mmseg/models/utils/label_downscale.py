import torch
import torch.nn.functional as F


def downscale_label_ratio(gt: torch.Tensor, scale_factor: int, min_ratio: float, n_classes: int,
                          ignore_index: int = 255) -> torch.Tensor:
    """Downscale a label map by majority vote with a purity threshold (DAFormer's rule).

    Each `scale_factor` x `scale_factor` block takes its most frequent class if that class covers
    at least `min_ratio` of the block, otherwise `ignore_index`. Ignored pixels count as an extra
    class, so a block dominated by ignored pixels stays ignored.

    Args:
        gt: (B, 1, H, W) integer labels with values in [0, n_classes) or `ignore_index`.
    Returns:
        (B, 1, H // scale_factor, W // scale_factor) long labels.
    """
    bs, orig_c, orig_h, orig_w = gt.shape
    assert orig_c == 1
    trg_h, trg_w = orig_h // scale_factor, orig_w // scale_factor
    ignore_substitute = n_classes
    out = gt.clone().long()
    out[out == ignore_index] = ignore_substitute
    out = F.one_hot(out.squeeze(1), num_classes=n_classes + 1).permute(0, 3, 1, 2).float()
    assert list(out.shape) == [bs, n_classes + 1, orig_h, orig_w], out.shape
    out = F.avg_pool2d(out, kernel_size=scale_factor)
    gt_ratio, out = torch.max(out, dim=1, keepdim=True)
    out[out == ignore_substitute] = ignore_index
    out[gt_ratio < min_ratio] = ignore_index
    assert list(out.shape) == [bs, 1, trg_h, trg_w], out.shape
    return out
