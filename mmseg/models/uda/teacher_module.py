"""A separate EMA teacher producing pseudo-labels (MIC's `EMATeacher` in teacher_module.py).

DACS keeps its own teacher; this one exists for MIC ablations whose masked branch uses another
EMA rate or confidence threshold (`mask_alpha` / `mask_pseudo_threshold` != 'same') and for
hosts that have no teacher of their own.
"""
from copy import deepcopy
from typing import List, Optional, Tuple

import torch
from timm.layers import DropPath
from torch import nn
from torch.nn.modules.dropout import _DropoutNd

from ..builder import build_segmentor
from .ema import step_ema
from .pseudo_labels import (filter_valid_pseudo_region, pseudo_label_from_logits,
                            pseudo_weight_map)
from ...utils.device import unwrap_model


def disable_stochastic_layers(model: nn.Module) -> None:
    """Put dropout and DropPath layers in eval mode, leaving every other layer as it is.

    MIC's teacher otherwise stays in train mode: its BatchNorm layers use batch statistics while
    pseudo-labelling (MIC's `DACS.forward_train` only turns dropout and DropPath off).
    """
    for module in model.modules():
        if isinstance(module, (_DropoutNd, DropPath)):
            module.training = False


class EMATeacher(nn.Module):
    """EMA copy of the student that labels target images.

    Args:
        model: segmentor config of the student.
        alpha: EMA momentum.
        pseudo_threshold: confidence for the pseudo weight; None gives a weight of 1 everywhere.
        pseudo_weight_ignore_top / pseudo_weight_ignore_bottom: rows whose weight is zeroed.
    """

    def __init__(self, model: dict, alpha: float, pseudo_threshold: Optional[float],
                 pseudo_weight_ignore_top: int = 0, pseudo_weight_ignore_bottom: int = 0):
        super().__init__()
        self.alpha = alpha
        self.pseudo_threshold = pseudo_threshold
        self.psweight_ignore_top = pseudo_weight_ignore_top
        self.psweight_ignore_bottom = pseudo_weight_ignore_bottom
        self.ema_model = build_segmentor(deepcopy(model))

    def update_weights(self, model: nn.Module, iteration: int) -> None:
        """Copy the student at iteration 0, EMA-update it afterwards (`ema.step_ema`)."""
        step_ema(self.ema_model, unwrap_model(model), iteration, self.alpha)

    @torch.no_grad()
    def forward(self, target_img: torch.Tensor, target_img_metas: List[dict],
                valid_pseudo_mask: Optional[torch.Tensor]
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pseudo-label a target batch.

        Args:
            target_img: (B, 3, H, W).
            valid_pseudo_mask: (B, 1, H, W) 0/1 or None.
        Returns:
            pseudo_label (B, H, W) long and pseudo_weight (B, H, W) float.
        """
        disable_stochastic_layers(self.ema_model)
        logits = self.ema_model.generate_pseudo_label(target_img, target_img_metas)
        prob_max, pseudo_label = pseudo_label_from_logits(logits)
        weight = pseudo_weight_map(prob_max, self.pseudo_threshold)
        weight = filter_valid_pseudo_region(weight, valid_pseudo_mask, self.psweight_ignore_top,
                                            self.psweight_ignore_bottom)
        return pseudo_label, weight
