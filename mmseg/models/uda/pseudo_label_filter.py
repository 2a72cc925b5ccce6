"""Pseudo-label filtering (PLF) of PCPR: per-pixel weights for the teacher's target pseudo-labels.

MIC weights every target pixel with one scalar, the confidence quality `q`. PLF multiplies it by
two per-pixel reliability maps (docs/method/pcpr.md, "Pseudo-label filtering (PLF)"):
- scale consistency `m_cons`: do the context (LR) and detail (HR) predictions of HRDA agree?
- edge weight `m_edge = (1 - E) ** gamma`: pixels near a pseudo-label boundary are less reliable.
and, as options: `m_proto` (does the pixel's class match its nearest class prototype, as
prototype-based denoising does?), `m_pl` (does an offline pseudo-label from `pl_dir` agree?),
a per-image renormalisation that gives the filtered weights MIC's total, and turning low-weight
pixels into ignore. The formulas are free functions; the
`PseudoLabelFilter` class only wires them to the `plf=dict(...)` config and collects statistics.
"""
import inspect
from typing import Dict, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .pseudo_labels import pseudo_label_from_logits
from ...utils.errors import UserError

IGNORE_INDEX = 255
# Where the filter's maps act (`PseudoLabelFilter.apply_to`).
APPLY_TO = ('both', 'loss', 'anchors')


def scale_consistency(p_lr: Tensor, p_hr: Optional[Tensor], mode: str = 'hard',
                      inconsistent_weight: float = 0.0,
                      hr_valid: Optional[Tensor] = None) -> Tensor:
    """Agreement of the LR (context) and HR (detail) teacher predictions, per pixel.

    hard: `m = 1` where `argmax p_lr == argmax p_hr`, else `inconsistent_weight`.
    soft: `m = sum_c min(p_lr_c, p_hr_c)`, the overlap of the two distributions, in [0, 1].
    Where there is no HR prediction (`p_hr is None`, or `hr_valid` False) `m = 1`: nothing to
    compare, so the pixel is not penalised.

    Args:
        p_lr: (B, C, H, W) LR class probabilities (softmax).
        p_hr: (B, C, H, W) HR class probabilities, or None.
        mode: 'hard' or 'soft'.
        inconsistent_weight: weight of disagreeing pixels in hard mode.
        hr_valid: (B, H, W) bool, where the HR prediction exists; None = everywhere.
    Returns:
        (B, H, W) float weights.
    """
    ones = p_lr.new_ones(p_lr.shape[0], *p_lr.shape[2:])
    if p_hr is None:
        return ones
    if mode == 'hard':
        agree = p_lr.argmax(dim=1) == p_hr.argmax(dim=1)
        m = torch.where(agree, ones, ones * inconsistent_weight)
    elif mode == 'soft':
        m = torch.minimum(p_lr, p_hr).sum(dim=1)
    else:
        raise ValueError(f"consistency mode must be 'hard' or 'soft', got {mode!r}")
    if hr_valid is not None:
        m = torch.where(hr_valid.bool(), m, ones)
    return m


def edge_probability(label: Tensor, radius: int = 3, stride: int = 4,
                     ignore_index: int = IGNORE_INDEX,
                     num_classes: Optional[int] = None) -> Tensor:
    """Fraction of the window's valid pixels whose label differs from the centre's label.

    Computed at the decoder's output stride, where one pixel is one feature: the label is
    nearest-downsampled by `stride` (`label[:, ::stride, ::stride]`, i.e. F.interpolate 'nearest'
    when H, W are multiples of `stride`), the statistic is taken over the `(2r+1)^2` window, and
    the map is nearest-upsampled back (pixel (i, j) takes low-res pixel (i // stride, j // stride)).

        E(x) = #{x' in N(x): y(x') valid, y(x') != y(x)} / #{x' in N(x): y(x') valid}

    N(x) is the window clipped to the image and *includes the centre* x itself, so a valid centre
    always counts once in the denominator and an isolated pixel gets E = 1 - 1/|valid N(x)|.
    Ignore-labelled neighbours count in neither term. An ignore-labelled centre has no label to
    trust and gets E = 1 (so m_edge = 0).
    Same-class counts come from one sum-pooling call over the one-hot label:
    `n_same = sum_c onehot_c * pool(onehot)_c`, `n_valid = sum_c pool(onehot)_c`.

    Args:
        label: (B, H, W) integer labels in [0, num_classes) or `ignore_index`.
        num_classes: number of classes; None = 1 + the largest valid label (a host sync).
    Returns:
        (B, H, W) float in [0, 1].
    """
    _, height, width = label.shape
    low = label[:, ::stride, ::stride]
    valid = low != ignore_index
    if num_classes is None:
        num_classes = int(low[valid].max()) + 1 if bool(valid.any()) else 1
    # Ignored pixels go to an extra channel that is dropped, so their one-hot row is all zero.
    index = torch.where(valid, low, torch.full_like(low, num_classes)).long()
    onehot = torch.zeros(low.shape[0], num_classes + 1, *low.shape[1:], device=label.device)
    onehot.scatter_(1, index.unsqueeze(1), 1.0)
    onehot = onehot[:, :num_classes]
    # divisor_override=1 turns the average into a window sum; zero padding = clipped window.
    counts = F.avg_pool2d(onehot, kernel_size=2 * radius + 1, stride=1, padding=radius,
                          divisor_override=1)
    n_same = (onehot * counts).sum(dim=1)
    n_valid = counts.sum(dim=1)
    edge = 1.0 - n_same / n_valid.clamp_min(1.0)
    edge = torch.where(valid, edge, torch.ones_like(edge))
    rows = torch.arange(height, device=label.device) // stride
    cols = torch.arange(width, device=label.device) // stride
    return edge[:, rows][:, :, cols]


def edge_weight(edge_prob: Tensor, gamma: float) -> Tensor:
    """`m_edge = (1 - E) ** gamma`, any shape; gamma = 0 switches the edge weighting off."""
    return (1.0 - edge_prob).pow(gamma)


def combine_weights(q: Union[Tensor, float], m_cons: Tensor, m_edge: Tensor,
                    valid_region: Tensor) -> Tensor:
    """PLF pixel weight `w = q * m_cons * m_edge * valid_region`.

    Args:
        q: scalar confidence quality (MIC's pseudo weight: fraction of confident pixels).
        m_cons, m_edge: (B, H, W) reliability maps.
        valid_region: (B, H, W) MIC's valid pseudo region (crop margins, ignored top/bottom rows).
    Returns:
        (B, H, W) float weights.
    """
    return q * m_cons * m_edge * valid_region


def offline_agreement(label: Tensor, offline_pl: Tensor,
                      ignore_index: int = IGNORE_INDEX) -> Tensor:
    """`m_pl`: 1 where the offline pseudo-label agrees with the teacher's or has no opinion
    (`ignore_index`), 0 where it disagrees.

    Args:
        label: (B, H, W) teacher pseudo-label.
        offline_pl: (B, H, W) or (B, 1, H, W) offline pseudo-label.
    Returns:
        (B, H, W) float.
    """
    offline_pl = offline_pl.reshape(label.shape)
    return ((offline_pl == label) | (offline_pl == ignore_index)).float()


def prototype_agreement(class_scores: Tensor, label: Tensor, mode: str = 'soft',
                        temperature: float = 0.1) -> Tensor:
    """`m_proto`: agreement of the pseudo-label with the pixel's nearest class prototype.

    With `s_c(x)` the similarity of the pixel's embedding to class c's nearest sub-prototype
    (-inf for classes without prototypes yet) and `y` the pseudo-label:
    soft: `m = exp((s_y - max_c s_c) / T)`, 1 where `y` is the nearest class, smaller the
    further its prototypes are behind the nearest class's (the prototype posterior of `y`
    relative to the best class's, so it does not shrink with the number of classes).
    hard: `m = 1` where `y` is the nearest class, else 0.
    A pixel whose class has no prototype yet gets `m = 1` (no opinion).

    Args:
        class_scores: (B, C, H, W) similarities `s_c`.
        label: (B, H, W) pseudo-label in [0, C).
        mode: 'soft' or 'hard'.
        temperature: T of the soft mode.
    Returns:
        (B, H, W) float in [0, 1].
    """
    own = class_scores.gather(1, label.long().unsqueeze(1)).squeeze(1)
    best = class_scores.max(dim=1).values
    if mode == 'hard':
        m = (own >= best).float()
    elif mode == 'soft':
        m = torch.exp((own - best) / temperature)
    else:
        raise ValueError(f"prototype agreement mode must be 'soft' or 'hard', got {mode!r}")
    return torch.where(torch.isfinite(own), m, torch.ones_like(m))


def renormalize_weights(weight: Tensor, reference: Tensor) -> Tensor:
    """Rescale each image's weights so that they sum to the reference's sum.

    PLF lowers or drops weights; renormalised against MIC's `q * valid_region`, the target loss
    keeps MIC's total weight and only its distribution over pixels changes. An image whose
    weights are all zero stays zero.

    Args:
        weight: (B, H, W) PLF weights.
        reference: (B, H, W) MIC's weights.
    """
    total = weight.flatten(1).sum(1)
    scale = torch.where(total > 0, reference.flatten(1).sum(1) / total.clamp_min(1e-12),
                        torch.zeros_like(total))
    return weight * scale[:, None, None]


def apply_drop_below(label: Tensor, weight: Tensor, drop_below: float,
                     ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Copy of `label` (B, H, W) with `ignore_index` where `weight < drop_below` (strict).

    With drop_below = 0 nothing is dropped (weights are never negative).
    """
    return torch.where(weight < drop_below, torch.full_like(label, ignore_index), label)


class PLFOutput(NamedTuple):
    """Result of `PseudoLabelFilter`; unpacks as (label, weight, stats, maps).

    pseudo_label: (B, H, W) long, teacher argmax with dropped pixels set to 255.
    pseudo_weight: (B, H, W) float, the PLF weight w.
    stats: scalar tensors named `plf.*` for the log (never `.item()`-ed here).
    maps: (B, H, W) tensors for FPC and debug images: 'confidence' (max teacher prob),
        'm_cons', 'edge_prob', 'm_edge', 'reliability' (= m_cons * m_edge, times m_pl and
        m_proto when used), and 'm_pl' / 'm_proto' when used.
    """
    pseudo_label: Tensor
    pseudo_weight: Tensor
    stats: Dict[str, Tensor]
    maps: Dict[str, Tensor]


class PseudoLabelFilter:
    """Builds PLF pseudo-labels and weights from the teacher's logits (the `plf=dict(...)` cfg).

    Both of the spec's terms (`use_consistency`, `use_edge`) are off by default: on the
    synthetic benchmark they lowered target mIoU on every seed
    (docs/results/synthetic_benchmark.md, PCPR variant study).
    With both off, w is MIC's weight and the filter only measures the pseudo-labels.

    Args:
        use_consistency: multiply by the LR/HR scale-consistency map `m_cons`.
        consistency_mode: 'hard' (argmax agreement) or 'soft' (distribution overlap).
        inconsistent_weight: hard-mode weight of pixels where LR and HR disagree.
        use_edge: multiply by the edge weight `m_edge`.
        edge_radius: r of the (2r+1)^2 edge window, in feature pixels.
        edge_gamma: exponent of `m_edge = (1 - E) ** gamma`.
        edge_stride: output stride of the decoder at which E is computed.
        drop_below: pixels with w < drop_below become ignore (255) in the pseudo-label.
        plf_on_masked: read by the UDA loop: the MIC masked loss uses the PLF weights too.
        use_offline_pl: multiply by `m_pl`, the agreement with the target's offline
            pseudo-labels (the target dataset needs `pl_dir`).
        proto_agreement: None, 'soft' or 'hard': multiply by `m_proto`, the agreement with the
            nearest class prototype (PCPR computes the class scores; needs `fpc`).
        proto_temperature: T of the soft `m_proto`.
        renormalize: rescale each image's weights to the sum of MIC's `q * valid_region`.
        apply_to: where the filter's maps act: 'both' (the loss weights and the choice of
            FPC's target anchors, as first defined), 'loss' (the weights only; every confident
            target pixel may be an anchor) or 'anchors' (only which target pixels may be FPC
            anchors; the loss keeps MIC's weights, so the filter cannot remove signal from it).
    """

    def __init__(self, use_consistency: bool = False, consistency_mode: str = 'hard',
                 inconsistent_weight: float = 0.0, use_edge: bool = False, edge_radius: int = 3,
                 edge_gamma: float = 1.0, edge_stride: int = 4, drop_below: float = 0.0,
                 plf_on_masked: bool = True, use_offline_pl: bool = False,
                 proto_agreement: Optional[str] = None, proto_temperature: float = 0.1,
                 renormalize: bool = False, apply_to: str = 'both'):
        if consistency_mode not in ('hard', 'soft'):
            raise UserError(f"uda.plf.consistency_mode must be 'hard' or 'soft', "
                            f'got {consistency_mode!r}')
        if apply_to not in APPLY_TO:
            raise UserError(f'uda.plf.apply_to must be one of {", ".join(APPLY_TO)}, '
                            f'got {apply_to!r}')
        if proto_agreement not in (None, 'soft', 'hard'):
            raise UserError(f"uda.plf.proto_agreement must be None, 'soft' or 'hard', "
                            f'got {proto_agreement!r}')
        self.use_consistency = use_consistency
        self.consistency_mode = consistency_mode
        self.inconsistent_weight = inconsistent_weight
        self.use_edge = use_edge
        self.edge_radius = edge_radius
        self.edge_gamma = edge_gamma
        self.edge_stride = edge_stride
        self.drop_below = drop_below
        self.plf_on_masked = plf_on_masked
        self.use_offline_pl = use_offline_pl
        self.proto_agreement = proto_agreement
        self.proto_temperature = proto_temperature
        self.renormalize = renormalize
        self.apply_to = apply_to

    @classmethod
    def from_cfg(cls, cfg: dict) -> 'PseudoLabelFilter':
        """Build from `uda.plf`; an unknown key is a UserError naming it and the known keys."""
        from ...utils.errors import refuse_unknown_keys
        refuse_unknown_keys(cfg, inspect.signature(cls).parameters, 'uda.plf')
        return cls(**cfg)

    def __call__(self, fused: Tensor, lr: Optional[Tensor], hr: Optional[Tensor],
                 q: Tensor, valid_region: Optional[Tensor] = None,
                 hr_valid: Optional[Tensor] = None, gt: Optional[Tensor] = None,
                 pseudo: Optional[Tuple[Tensor, Tensor]] = None,
                 offline_pl: Optional[Tensor] = None,
                 proto_scores: Optional[Tensor] = None) -> PLFOutput:
        """Filter the teacher's pseudo-label.

        Args:
            fused, lr, hr: (B, C, H, W) teacher logits at label resolution (lr/hr None for a
                non-HRDA segmentor: then m_cons = 1).
            q: scalar tensor, MIC's confidence quality.
            valid_region: (B, H, W) MIC's valid pseudo region; None = everywhere.
            hr_valid: (B, H, W) bool, where `hr` exists; None = everywhere.
            gt: (B, H, W) or (B, 1, H, W) target labels, only to log pseudo-label accuracy.
            pseudo: `pseudo_label_from_logits(fused)` when the caller has it (saves a softmax).
            offline_pl: (B, 1, H, W) offline pseudo-labels, used with `use_offline_pl`.
            proto_scores: (B, C, H, W) similarity of each pixel to each class's nearest
                prototype (-inf: no prototype yet), used with `proto_agreement`.
        """
        confidence, label = pseudo_label_from_logits(fused) if pseudo is None else pseudo
        ones = torch.ones_like(confidence)
        m_cons = ones
        if self.use_consistency and lr is not None and hr is not None:
            m_cons = scale_consistency(torch.softmax(lr.detach(), dim=1),
                                       torch.softmax(hr.detach(), dim=1),
                                       self.consistency_mode, self.inconsistent_weight, hr_valid)
        edge_prob, m_edge = torch.zeros_like(confidence), ones
        if self.use_edge:
            edge_prob = edge_probability(label, self.edge_radius, self.edge_stride,
                                         num_classes=fused.shape[1])
            m_edge = edge_weight(edge_prob, self.edge_gamma)
        valid_region = ones if valid_region is None else valid_region
        # The filter's judgement of every pixel; `apply_to` decides what it changes.
        weight = combine_weights(q, m_cons, m_edge, valid_region)
        reliability = m_cons * m_edge
        extra = {}
        if self.use_offline_pl:
            if offline_pl is None:
                raise UserError('uda.plf.use_offline_pl=True needs offline pseudo-labels: set '
                                'pl_dir in the target dataset config (data.train.target).')
            extra['m_pl'] = offline_agreement(label, offline_pl)
        if self.proto_agreement is not None:
            if proto_scores is None:
                raise UserError('uda.plf.proto_agreement needs the class prototypes of FPC: '
                                'set uda.fpc=dict(...) too.')
            extra['m_proto'] = prototype_agreement(proto_scores, label, self.proto_agreement,
                                                   self.proto_temperature)
        for m in extra.values():
            weight, reliability = weight * m, reliability * m
        if self.renormalize:
            weight = renormalize_weights(weight, q * valid_region)
        stats = self._stats(q, weight, m_cons, m_edge, label, gt)
        stats.update({f'plf.{name}': m.mean() for name, m in extra.items()})
        if self.apply_to == 'anchors':  # the loss keeps MIC's weights and labels
            weight, filtered = combine_weights(q, ones, ones, valid_region), label
        else:
            filtered = apply_drop_below(label, weight, self.drop_below)
        if self.apply_to == 'loss':  # every pixel may be an anchor, as without the filter
            reliability = ones
        maps = dict(confidence=confidence, m_cons=m_cons, edge_prob=edge_prob, m_edge=m_edge,
                    reliability=reliability, **extra)
        return PLFOutput(filtered, weight, stats, maps)

    def _stats(self, q: Tensor, weight: Tensor, m_cons: Tensor, m_edge: Tensor, label: Tensor,
               gt: Optional[Tensor]) -> Dict[str, Tensor]:
        """Log values of the filter's judgement `weight` (whether or not `apply_to` lets it
        reach the loss). A pixel is *kept* if the filter lets it train: w > 0 and
        w >= drop_below.

        With `gt`, over pixels whose GT is not 255: `acc_before` = accuracy of the unfiltered
        pseudo-label on all of them, `acc_after` / `acc_dropped` = accuracy on the kept / the
        dropped ones (unweighted), `acc_weighted` = sum(w * correct) / sum(w). An empty
        denominator gives 0.
        """
        kept = (weight > 0) & (weight >= self.drop_below)
        stats = {'plf.q': torch.as_tensor(q, dtype=weight.dtype, device=weight.device),
                 'plf.kept': kept.float().mean(),
                 'plf.m_cons': m_cons.mean(),
                 'plf.m_edge': m_edge.mean()}
        if gt is not None:
            gt = gt.reshape(label.shape)
            labelled = (gt != IGNORE_INDEX).float()
            correct = (label == gt).float() * labelled
            kept_labelled = kept.float() * labelled
            stats['plf.acc_before'] = correct.sum() / labelled.sum().clamp_min(1)
            stats['plf.acc_after'] = (correct * kept_labelled).sum() \
                / kept_labelled.sum().clamp_min(1)
            dropped_labelled = labelled - kept_labelled
            stats['plf.acc_dropped'] = (correct * dropped_labelled).sum() \
                / dropped_labelled.sum().clamp_min(1)
            w = weight * labelled
            stats['plf.acc_weighted'] = (correct * w).sum() / w.sum().clamp_min(1e-12)
        return stats
