"""DACS strong augmentation: ClassMix, kornia-0.5.8 colour jitter, Gaussian blur.

As MIC's seg/mmseg/models/utils/dacs_transforms.py (`get_class_masks`, `strong_transform`).

All functions are pure: they return new tensors and never modify their inputs. Random draws follow
MIC: the per-iteration apply/skip decisions come from Python `random` (`draw_strong_parameters`),
the ClassMix classes and the blur sigma from `np.random`, the jitter factors and their order from
torch's global generator.
"""
import math
import random
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from kornia.color import hsv_to_rgb, rgb_to_hsv
from kornia.filters import gaussian_blur2d

from ...utils.errors import UserError

ArrayLike = Union[torch.Tensor, Sequence[float], np.ndarray]


def _channel_stat(value: ArrayLike, like: torch.Tensor) -> torch.Tensor:
    """Mean or std, given as (3,), (1, 3, 1, 1) or (B, 3, 1, 1), as a (N, 3, 1, 1) tensor."""
    return torch.as_tensor(value, dtype=like.dtype, device=like.device).reshape(-1, 3, 1, 1)


def get_mean_std(img_metas: List[dict], device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-image normalisation statistics from `img_metas[i]['img_norm_cfg']`.

    Returns:
        mean, std: (B, 3, 1, 1) float tensors in 0..255 pixel units.
    """
    means = [torch.as_tensor(m['img_norm_cfg']['mean'], dtype=torch.float32) for m in img_metas]
    stds = [torch.as_tensor(m['img_norm_cfg']['std'], dtype=torch.float32) for m in img_metas]
    return (torch.stack(means).view(-1, 3, 1, 1).to(device),
            torch.stack(stds).view(-1, 3, 1, 1).to(device))


def denorm(img: torch.Tensor, mean: ArrayLike, std: ArrayLike) -> torch.Tensor:
    """Normalised image (B, 3, H, W) -> [0, 1] RGB: (x * std + mean) / 255."""
    return (img * _channel_stat(std, img) + _channel_stat(mean, img)) / 255.0


def renorm(img: torch.Tensor, mean: ArrayLike, std: ArrayLike) -> torch.Tensor:
    """Inverse of `denorm`: [0, 1] RGB (B, 3, H, W) -> (x * 255 - mean) / std."""
    return (img * 255.0 - _channel_stat(mean, img)) / _channel_stat(std, img)


def draw_strong_parameters(mean: torch.Tensor, std: torch.Tensor, color_jitter_s: float,
                           color_jitter_p: float, blur: bool) -> Dict:
    """One iteration's `strong_transform` parameters, drawn as MIC does.

    Two Python `random` numbers, colour jitter first, then blur (0 when `blur` is off, so blur is
    never applied). They are shared by every image that uses these parameters (as in MIC's
    `DACS.forward_train`).
    `mix` is None; ClassMix callers set it per image.
    """
    return dict(mix=None, color_jitter=random.uniform(0, 1), color_jitter_s=color_jitter_s,
                color_jitter_p=color_jitter_p, blur=random.uniform(0, 1) if blur else 0,
                mean=mean, std=std)


def generate_class_mask(label: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """1 where `label` is one of `classes`, else 0.

    Args:
        label: (..., H, W) integer labels (MIC passes one image's (1, H, W) GT).
        classes: (K,) class ids.
    Returns:
        long mask with the shape of `label`.
    """
    return (label.unsqueeze(-1) == classes.to(label.device).view(-1)).any(-1).long()


def get_class_masks(labels: torch.Tensor) -> List[torch.Tensor]:
    """ClassMix masks, one per image, with MIC's class-choice quirk (its `get_class_masks`).

    The candidates are `unique(labels)` of the WHOLE batch, 255 included when present, not of the
    image itself; ceil(n / 2) of the n candidates are drawn per image with
    `np.random.choice(n, ceil(n/2), replace=False)`. The mask of image i marks where image i's
    label is one of its drawn classes.

    Args:
        labels: (B, 1, H, W) source labels.
    Returns:
        B long masks of shape (1, 1, H, W).
    """
    candidates = torch.unique(labels)
    n = candidates.numel()
    masks = []
    for label in labels:
        chosen = np.random.choice(n, (n + n % 2) // 2, replace=False)
        classes = candidates[torch.as_tensor(chosen, dtype=torch.long, device=candidates.device)]
        masks.append(generate_class_mask(label, classes).unsqueeze(0))
    return masks


def one_mix(mask: Optional[torch.Tensor], data: Optional[torch.Tensor] = None,
            target: Optional[torch.Tensor] = None
            ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """Paste the masked pixels of the first element onto the second: mask * x[0] + (1-mask) * x[1].

    MIC stacks (source, target), so source pixels of the chosen classes land on the target.

    Args:
        mask: (1, 1, H, W) or (1, H, W) 0/1 mask; None returns the inputs unchanged.
        data: (2, C, H, W) images.
        target: (2, H, W) labels or weights.
    Returns:
        (1, C, H, W) mixed image and (1, 1, H, W) mixed target (each None when not given).
    """
    if mask is None:
        return data, target
    mask = mask[0]
    if data is not None:
        data = (mask * data[0] + (1 - mask) * data[1]).unsqueeze(0)
    if target is not None:
        target = (mask * target[0] + (1 - mask) * target[1]).unsqueeze(0)
    return data, target


def adjust_brightness(img: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """kornia 0.5.8 brightness: additive, clamp(x + (b - 1), 0, 1); factor (B,), x (B, C, H, W)."""
    return (img + (factor.view(-1, 1, 1, 1) - 1)).clamp(0, 1)


def adjust_contrast(img: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """kornia 0.5.8 contrast: a pure scale without mean subtraction, clamp(x * c, 0, 1)."""
    return (img * factor.view(-1, 1, 1, 1)).clamp(0, 1)


def adjust_saturation(img: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """HSV saturation scaling: s <- clamp(s * f, 0, 1), back to RGB, clamp to [0, 1]."""
    h, s, v = rgb_to_hsv(img).unbind(1)
    s = (s * factor.view(-1, 1, 1)).clamp(0, 1)
    return hsv_to_rgb(torch.stack((h, s, v), 1)).clamp(0, 1)


def adjust_hue(img: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Hue rotation: angle <- (angle + f * 2pi) mod 2pi, back to RGB, clamp to [0, 1]."""
    h, s, v = rgb_to_hsv(img).unbind(1)
    h = torch.remainder(h + factor.view(-1, 1, 1) * 2 * math.pi, 2 * math.pi)
    return hsv_to_rgb(torch.stack((h, s, v), 1)).clamp(0, 1)


JITTER_OPS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)


def apply_color_jitter(img: torch.Tensor, factors: torch.Tensor,
                       order: Sequence[int]) -> torch.Tensor:
    """Apply the four jitter ops with fixed factors in `order` (indices into `JITTER_OPS`).

    Args:
        img: (B, 3, H, W) RGB in [0, 1].
        factors: (4, B) brightness, contrast, saturation, hue factors.
    """
    for idx in order:
        img = JITTER_OPS[idx](img, factors[idx])
    return img


def sample_jitter_factors(batch_size: int, s: float) -> Tuple[torch.Tensor, List[int]]:
    """kornia 0.5.8 ColorJitter(s, s, s, s) parameters: per-sample factors, one order per call.

    brightness, contrast, saturation ~ U(max(0, 1-s), 1+s), hue ~ U(-s, s). kornia draws them in
    the order brightness, contrast, hue, saturation (not the order of the ops), then the op order
    torch.randperm(4); the same order here gives MIC's jitter for the same torch seed.

    Returns:
        factors (4, B) in op order (brightness, contrast, saturation, hue) and the op order as a
        list of 4 ints.
    """
    if not 0 <= s <= 0.5:
        raise UserError(f'uda.color_jitter_strength={s}: must be in [0, 0.5] (the hue factor '
                        'is bounded by half a turn).')

    def uniform(center: float, lower: float) -> torch.Tensor:
        # kornia's bounds in float32: s * [-1, 1] + center, clamped; then low + U * (high - low).
        low, high = (torch.tensor(s) * torch.tensor([-1.0, 1.0]) + center).clamp(min=lower)
        return low + torch.rand(batch_size) * (high - low)

    brightness, contrast = uniform(1.0, 0.0), uniform(1.0, 0.0)
    hue, saturation = uniform(0.0, -0.5), uniform(1.0, 0.0)
    factors = torch.stack((brightness, contrast, saturation, hue))
    return factors, torch.randperm(4).tolist()


def color_jitter(color_jitter: float, mean: ArrayLike, std: ArrayLike, data: torch.Tensor,
                 s: float = 0.2, p: float = 0.2) -> torch.Tensor:
    """MIC's colour jitter on a normalised batch, kornia 0.5.8 semantics (its `color_jitter`).

    Applied only when `color_jitter` (the iteration's uniform draw) > `p`: MIC's "probability 0.2"
    means the jitter happens with probability 1 - p = 0.8, kept on purpose. Only 3-channel data is
    jittered. The image is denormalised to [0, 1], jittered, and renormalised.

    Args:
        data: (B, 3, H, W) normalised images.
    Returns:
        (B, 3, H, W) normalised images (a new tensor, or `data` itself when skipped).
    """
    if data is None or data.shape[1] != 3 or not color_jitter > p:
        return data
    factors, order = sample_jitter_factors(data.shape[0], s)
    img = apply_color_jitter(denorm(data, mean, std), factors.to(data), order)
    return renorm(img, mean, std)


def blur_kernel_size(size: int) -> int:
    """MIC's blur kernel size for an image side: c = ceil(0.1 * size), c if odd else c - 1."""
    c = math.ceil(0.1 * size)
    return c if c % 2 == 1 else c - 1


def gaussian_blur(blur: float, data: torch.Tensor) -> torch.Tensor:
    """MIC's Gaussian blur on a normalised batch (its `gaussian_blur`).

    Applied when `blur` (the iteration's uniform draw) > 0.5, to 3-channel data only, with
    sigma ~ np.random.uniform(0.15, 1.15) shared by x, y and the batch, an odd kernel per axis
    (`blur_kernel_size`), reflect padding and a normalised separable Gaussian.

    Args:
        data: (B, 3, H, W).
    Returns:
        (B, 3, H, W) (a new tensor, or `data` itself when skipped).
    """
    if data is None or data.shape[1] != 3 or not blur > 0.5:
        return data
    sigma = float(np.random.uniform(0.15, 1.15))
    kernel_size = (blur_kernel_size(data.shape[2]), blur_kernel_size(data.shape[3]))
    return gaussian_blur2d(data, kernel_size, (sigma, sigma), border_type='reflect')


def strong_transform(param: Dict, data: Optional[torch.Tensor] = None,
                     target: Optional[torch.Tensor] = None
                     ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """DACS strong augmentation: one_mix -> color_jitter -> gaussian_blur.

    Args:
        param: dict with keys mix, color_jitter, color_jitter_s, color_jitter_p, blur, mean, std
            (see `draw_strong_parameters`).
        data: (2, 3, H, W) stacked (source, target) images when mixing, else (B, 3, H, W).
        target: (2, H, W) stacked labels or weights; never colour-augmented.
    Returns:
        (data, target) after the transform; no random number is drawn when `data` is None.
    """
    data, target = one_mix(param['mix'], data=data, target=target)
    data = color_jitter(param['color_jitter'], param['mean'], param['std'], data,
                        s=param['color_jitter_s'], p=param['color_jitter_p'])
    data = gaussian_blur(param['blur'], data)
    return data, target
