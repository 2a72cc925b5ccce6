"""What the steps of one UDA iteration hand each other, named (DACS, MIC, PCPR, FPC).

Dataclasses instead of string-keyed dicts, so that a step states what it reads and a misspelt
field fails where it is read. PCPR's additions are optional fields, None under DACS.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from torch import Tensor


@dataclass
class TeacherOutput:
    """The teacher's logits on the target image, at its size (PCPR's filter adds the rest).

    Attributes:
        fused: (B, C, H, W) the segmentor's prediction (HRDA: LR and HR fused).
        lr, hr: (B, C, H, W) HRDA's per-scale logits (HR: slide-assembled); None otherwise.
        lr_feat: (B, F, h, w) LR decoder features, for the prototype agreement.
    """
    fused: Tensor
    lr: Optional[Tensor] = None
    hr: Optional[Tensor] = None
    lr_feat: Optional[Tensor] = None


@dataclass
class PseudoLabels:
    """Target pseudo-labels and their per-pixel weights.

    Attributes:
        label, weight: (B, H, W) for the mixed pass.
        masked_label, masked_weight: (B, H, W) for MIC's masked pass.
        confidence: (B, H, W) the teacher's max probability.
        log_vars: statistics to log.
        reliability: (B, H, W) PCPR: the filter's m_cons * m_edge (1 without the filter).
        maps: PCPR: the filter's maps by name (debug images).
        teacher: PCPR: the teacher output they came from.
    """
    label: Tensor
    weight: Tensor
    masked_label: Tensor
    masked_weight: Tensor
    confidence: Tensor
    log_vars: Dict[str, Tensor] = field(default_factory=dict)
    reliability: Optional[Tensor] = None
    maps: Optional[Dict[str, Tensor]] = None
    teacher: Optional[TeacherOutput] = None


@dataclass
class MixedBatch:
    """The ClassMix of source and target after the strong augmentation.

    Attributes:
        img: (B, 3, H, W); label: (B, 1, H, W); weight: (B, H, W) 1 on source pixels, the
        pseudo weight on target pixels; masks: per image (1, 1, H, W), 1 where the source is;
        pseudo: the target's pseudo-labels it was mixed from (PCPR reads their extras).
    """
    img: Tensor
    label: Tensor
    weight: Tensor
    masks: List[Tensor]
    pseudo: PseudoLabels


@dataclass
class DecoderFeatures:
    """The student's decoder features of one pass (`return_decoder_feat`), input of FPC.

    Attributes:
        lr, lr_logits: LR decoder features and raw logits.
        hr, hr_logits: those of HRDA's detail crop; None without one.
        hr_box: (y1, y2, x1, x2) the detail crop in the label, or None.
        lr_scale: the LR input scale; os: the head's output stride.
    """
    lr: Tensor
    lr_logits: Tensor
    hr: Optional[Tensor] = None
    hr_logits: Optional[Tensor] = None
    hr_box: Optional[Tuple[int, int, int, int]] = None
    lr_scale: float = 1.0
    os: Optional[int] = None
