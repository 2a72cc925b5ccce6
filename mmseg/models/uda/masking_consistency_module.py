"""MIC's masked image consistency: train the student on block-masked images.

As MIC's `MaskingConsistencyModule.__call__` (seg/mmseg/models/uda/masking_consistency_module.py).
"""
from typing import Dict, List, Optional, Union

import torch
from torch import nn

from .teacher_module import EMATeacher
from ..utils.dacs_transforms import (draw_strong_parameters, get_mean_std,
                                     strong_transform)
from ..utils.masking_transforms import build_mask_generator
from ...utils.errors import UserError

MASK_MODES = ('separate', 'separateaug', 'separatesrc', 'separatesrcaug', 'separatetrg',
              'separatetrgaug')


class MaskingConsistencyModule(nn.Module):
    """Builds the masked batch, runs the student on it and returns its losses.

    Modes (`mask_mode`): 'separate[aug]' uses [source image 0, target image 0] (batch of 2
    required), 'separatesrc[aug]' the source batch with GT and no weight, 'separatetrg[aug]' the
    target batch with pseudo-labels and pseudo weight. The '*aug' modes first apply a fresh strong
    augmentation (new Python `random` draws, blur always eligible whatever `uda.blur` says, one
    call for the whole batch). Masking comes after the colour augmentation.

    Pseudo-labels come from the host (DACS's teacher, clean unmasked target) unless a separate
    `EMATeacher` exists: when the host requires one or `mask_alpha` / `mask_pseudo_threshold` is
    not 'same'.

    Args:
        mask_mode, mask_generator, mask_lambda: MIC's `uda.mask_*` keys.
        color_jitter_strength, color_jitter_probability: the strong augmentation of '*aug'.
        mask_alpha, mask_pseudo_threshold: the separate teacher's EMA momentum and confidence
            threshold; 'same' takes `alpha` / `pseudo_threshold`.
        source_only: the host trains on the source only (MIC's supervised masking).
        require_teacher: the host has no teacher of its own.
        model, alpha, pseudo_threshold, pseudo_weight_ignore_top, pseudo_weight_ignore_bottom:
            the host's values, for a separate `EMATeacher`.
    """

    def __init__(self, mask_mode: str, mask_generator: Optional[dict], mask_lambda: float,
                 color_jitter_strength: float, color_jitter_probability: float,
                 mask_alpha: Union[float, str] = 'same',
                 mask_pseudo_threshold: Union[float, str, None] = 'same',
                 source_only: bool = False, require_teacher: bool = False,
                 model: Optional[dict] = None, alpha: Optional[float] = None,
                 pseudo_threshold: Optional[float] = None, pseudo_weight_ignore_top: int = 0,
                 pseudo_weight_ignore_bottom: int = 0):
        super().__init__()
        self.source_only = source_only
        self.color_jitter_s = color_jitter_strength
        self.color_jitter_p = color_jitter_probability
        self.mask_mode = mask_mode
        if self.mask_mode not in MASK_MODES:
            raise UserError(f'uda.mask_mode={self.mask_mode!r} is not supported: use one of '
                            f'{", ".join(MASK_MODES)} (or None to disable MIC).')
        self.mask_alpha = mask_alpha
        self.mask_pseudo_threshold = mask_pseudo_threshold
        self.mask_lambda = mask_lambda
        self.mask_gen = build_mask_generator(mask_generator)
        if self.mask_gen is None:
            raise UserError(f'uda.mask_mode={self.mask_mode!r} needs uda.mask_generator, e.g. '
                            "dict(type='block', mask_ratio=0.7, mask_block_size=64).")
        self.teacher = None
        if require_teacher or mask_alpha != 'same' or mask_pseudo_threshold != 'same':
            self.teacher = EMATeacher(
                model, alpha if mask_alpha == 'same' else mask_alpha,
                pseudo_threshold if mask_pseudo_threshold == 'same' else mask_pseudo_threshold,
                pseudo_weight_ignore_top, pseudo_weight_ignore_bottom)
        self.debug_output: Dict[str, torch.Tensor] = {}

    def update_weights(self, model: nn.Module, iteration: int) -> None:
        """Step the separate teacher, if any (a no-op in MIC's main configs)."""
        if self.teacher is not None:
            self.teacher.update_weights(model, iteration)

    def forward(self, model: nn.Module, img: torch.Tensor, img_metas: List[dict],
                gt_semantic_seg: torch.Tensor, target_img: torch.Tensor,
                target_img_metas: List[dict], valid_pseudo_mask: Optional[torch.Tensor],
                pseudo_label: Optional[torch.Tensor] = None,
                pseudo_weight: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """One masked-consistency pass.

        Args:
            img, target_img: (B, 3, H, W) normalised source / target images.
            gt_semantic_seg: (B, 1, H, W) source labels.
            valid_pseudo_mask: (B, 1, H, W) or None, used by a separate teacher only.
            pseudo_label, pseudo_weight: (B, H, W) from the host; required without a teacher.
        Returns:
            the student's `forward_train` loss dict; `decode.loss_seg` scaled by `mask_lambda`.
        """
        self.debug_output = {}
        if not self.source_only:
            if self.teacher is not None:
                pseudo_label, pseudo_weight = self.teacher(target_img, target_img_metas,
                                                           valid_pseudo_mask)
                self.debug_output.update(pseudo_label=pseudo_label, pseudo_weight=pseudo_weight)
            elif pseudo_label is None or pseudo_weight is None:
                raise ValueError('MIC without its own teacher needs the host\'s pseudo_label '
                                 'and pseudo_weight')

        if self.source_only or self.mask_mode in ('separatesrc', 'separatesrcaug'):
            masked_img, masked_lbl, masked_weight = img, gt_semantic_seg, None
        elif self.mask_mode in ('separate', 'separateaug'):
            if img.shape[0] != 2:
                raise UserError(f'uda.mask_mode={self.mask_mode!r} needs exactly 2 images per '
                                f'batch (got {img.shape[0]}): set data.samples_per_gpu=2.')
            masked_img = torch.stack([img[0], target_img[0]])
            masked_lbl = torch.stack([gt_semantic_seg[0], pseudo_label[0].unsqueeze(0)])
            masked_weight = torch.stack([torch.ones_like(pseudo_weight[0]), pseudo_weight[0]])
        else:
            masked_img, masked_lbl, masked_weight = (target_img, pseudo_label.unsqueeze(1),
                                                     pseudo_weight)

        if self.mask_mode.endswith('aug'):
            means, stds = get_mean_std(img_metas, img.device)
            params = draw_strong_parameters(means[0].unsqueeze(0), stds[0].unsqueeze(0),
                                            self.color_jitter_s, self.color_jitter_p, blur=True)
            masked_img, _ = strong_transform(params, data=masked_img)

        masked_img = self.mask_gen.mask_image(masked_img)
        self.debug_output.update(masked_img=masked_img, masked_lbl=masked_lbl,
                                 masked_seg_weight=masked_weight)

        losses = model.forward_train(masked_img, img_metas, masked_lbl, seg_weight=masked_weight)
        if self.mask_lambda != 1:
            losses['decode.loss_seg'] = losses['decode.loss_seg'] * self.mask_lambda
        return losses
