"""FPC as one object: PCPR's prototype losses and the memory they train.

PCPR plugs it in as DACS plugs in MIC's `MaskingConsistencyModule`: PCPR decides when a pass
contributes (source pass, mixed pass) and the learner computes what it contributes. The
prototype machinery itself (anchors, Sinkhorn assignment, memory) is in `prototypes.py`, the
losses in `losses/prototype_contrast.py`.
"""
import inspect
from typing import Callable, ContextManager, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from ...utils.errors import refuse_unknown_keys
from ...utils.errors import UserError
from ..losses.prototype_contrast import (proto_loss_weight, prototype_compactness_loss,
                                         prototype_contrast_loss)
from .handoffs import DecoderFeatures
from .prototypes import (ANCHOR_STREAM, PrototypeMemory, denoise_labels, downscale_labels,
                         own_seed, sample_anchors)
from .region_prototypes import region_anchors


class PrototypeLearner:
    """Finer prototype construction (FPC): per-pass prototype losses, one memory update per step.

    Not an `nn.Module`: the host registers `memory` itself (PCPR as `proto_memory`), so that
    checkpoints keep their keys. The shipped values are in `configs/_base_/uda/pcpr.py`; the
    defaults below are those of keys a config leaves out of `uda.fpc` (tests/configs checks
    that both agree).

    Args:
        num_classes (int): C, the segmentor's classes.
        proj_dim (int): D, output channels of the projection head and size of the prototypes.
        proto_scale (str): HRDA scale feeding the projection head: 'lr', 'hr' (the detail crop)
            or 'both'.
        label_min_ratio (float): purity a label block needs to label its feature pixel.
        reliable_weight (float): target pixels of the mixed pass need a reliability of at least
            this to become anchors.
        max_samples (int): anchors per pass, all images and classes together.
        max_views (int): anchors per class and image (half hard, half easy).
        min_views (int): classes with fewer valid pixels give no anchors.
        num_prototypes (int): K sub-prototypes per class.
        sinkhorn_iters (int), sinkhorn_epsilon (float): of the balanced assignment.
        proto_momentum (float): EMA momentum of the prototype update.
        temperature (float): softmax temperature of L_cont.
        lambda_cont (float), lambda_cons (float): weights of L_cont and L_cons.
        proto_start_iter (int): iteration at which the losses start (the memory updates from 0).
        proto_rampup_iters (int): linear ramp of both weights after the start; 0 = at once.
        granularity (str): 'pixel' anchors only, or 'region': each image's 8-connected class
            regions add their mean embeddings to L_cont.
        region_min_area (int), max_regions (int): regions smaller than this are skipped; at
            most this many per image.
    """

    def __init__(self, num_classes: int, proj_dim: int = 256, proto_scale: str = 'lr',
                 label_min_ratio: float = 0.75, reliable_weight: float = 0.5,
                 max_samples: int = 1024, max_views: int = 100, min_views: int = 10,
                 num_prototypes: int = 10, sinkhorn_iters: int = 3,
                 sinkhorn_epsilon: float = 0.05, proto_momentum: float = 0.999,
                 temperature: float = 0.1, lambda_cont: float = 0.01, lambda_cons: float = 0.001,
                 proto_start_iter: int = 1500, proto_rampup_iters: int = 0,
                 granularity: str = 'pixel', region_min_area: int = 4, max_regions: int = 32):
        if proto_scale not in ('lr', 'hr', 'both'):
            raise UserError(f"uda.fpc.proto_scale must be 'lr', 'hr' or 'both', "
                            f'got {proto_scale!r}')
        if granularity not in ('pixel', 'region'):
            raise UserError(f"uda.fpc.granularity must be 'pixel' or 'region', "
                            f'got {granularity!r}')
        self.num_classes = num_classes
        self.proj_dim = proj_dim
        self.scales = ['lr', 'hr'] if proto_scale == 'both' else [proto_scale]
        self.label_min_ratio = label_min_ratio
        self.reliable_weight = reliable_weight
        self.max_samples = max_samples
        self.max_views = max_views
        self.min_views = min_views
        self.num_prototypes = num_prototypes
        self.temperature = temperature
        self.lambda_cont = lambda_cont
        self.lambda_cons = lambda_cons
        self.proto_start_iter = proto_start_iter
        self.proto_rampup_iters = proto_rampup_iters
        self.granularity = granularity
        self.region_min_area = region_min_area
        self.max_regions = max_regions
        self.memory = PrototypeMemory(num_classes, num_prototypes, proj_dim, proto_momentum,
                                      sinkhorn_iters, sinkhorn_epsilon)
        # Per iteration: the anchors of all passes (for the one memory update) and the
        # generator of FPC's random draws.
        self.anchor_buffer: List[Tuple[Tensor, Tensor, Tensor]] = []
        self.local_iter = 0
        self.generator: Optional[torch.Generator] = None

    @classmethod
    def from_cfg(cls, cfg: dict, num_classes: int) -> 'PrototypeLearner':
        """Build from `uda.fpc`; an unknown key is a UserError naming it and the known keys."""
        known = [k for k in inspect.signature(cls).parameters if k != 'num_classes']
        refuse_unknown_keys(cfg, known, 'uda.fpc')
        return cls(num_classes, **cfg)

    # ------------------------------------------------------------------ one iteration
    def start_iteration(self, local_iter: int, rank: int, device: torch.device) -> None:
        """FPC's draws of this iteration come off the global stream (see `own_seed`), keyed by
        iteration and rank, so a resumed run draws what the uninterrupted one drew."""
        self.local_iter = local_iter
        self.generator = torch.Generator(device=device).manual_seed(
            own_seed(ANCHOR_STREAM, local_iter, rank))

    def end_iteration(self) -> None:
        self.generator = None

    def reliable_labels(self, label: Tensor, reliability: Tensor, confidence: Tensor,
                        from_target: Tensor, pseudo_threshold: float) -> Tensor:
        """The mixed labels with unreliable target pixels ignored (`denoise_labels`)."""
        return denoise_labels(label, reliability, confidence, from_target, self.reliable_weight,
                              pseudo_threshold)

    def feature_views(self, decoder_feat: DecoderFeatures, label: Tensor
                      ) -> List[Tuple[Tensor, Tensor, Tensor]]:
        """(features, logits, label) per scale of `proto_scale` (HR: the detail crop)."""
        views = []
        for scale in self.scales:
            feat = getattr(decoder_feat, scale)
            if feat is None:
                if scale == 'hr':
                    raise UserError("uda.fpc.proto_scale='hr'/'both' needs an HRDA segmentor "
                                    'with an HR detail crop (model.hr_crop_size)')
                continue
            scale_label = label
            if scale == 'hr' and decoder_feat.hr_box is not None:
                y1, y2, x1, x2 = decoder_feat.hr_box
                scale_label = label[..., y1:y2, x1:x2]
            views.append((feat, getattr(decoder_feat, f'{scale}_logits'), scale_label))
        return views

    def losses(self, decoder_feat: DecoderFeatures, label: Tensor, proj_head: nn.Module,
               autocast: Callable[[torch.device], ContextManager]) -> Dict[str, Tensor]:
        """L_cont and L_cons of one pass; its anchors are kept for `update`.

        Args:
            decoder_feat: the student's decoder features and logits per scale.
            label: (B, 1, H, W) the pass's labels (255 = ignore).
            proj_head: the student's projection head.
            autocast: the host's autocast context for network passes.
        """
        memory, k = self.memory, self.num_prototypes
        losses = {}
        cont, cons = [], []
        for feat, logits, scale_label in self.feature_views(decoder_feat, label):
            with autocast(feat.device):
                emb = proj_head(feat)
            emb = emb.float().permute(0, 2, 3, 1)
            lbl = downscale_labels(scale_label, feat.shape[-2:], self.label_min_ratio,
                                   self.num_classes)
            pred = logits.detach().argmax(dim=1)
            per_image = max(1, self.max_samples // emb.shape[0])
            for i in range(emb.shape[0]):
                flat_lbl = lbl[i, 0].flatten()
                idx = sample_anchors(flat_lbl, pred[i].flatten(), per_image, self.max_views,
                                     self.min_views, generator=self.generator,
                                     num_classes=self.num_classes)
                anchors = emb[i].reshape(-1, emb.shape[-1])[idx]
                anchor_lbl = flat_lbl[idx]
                assignment = memory.assign(anchors, anchor_lbl)
                used = assignment >= 0
                cont.append((memory.logits(anchors[used]),
                             anchor_lbl[used] * k + assignment[used]))
                cons.append((anchors[used], memory.assigned(anchor_lbl[used], assignment[used])))
                self.anchor_buffer.append((anchors.detach(), anchor_lbl, assignment))
                if self.granularity == 'region':
                    cont.append(self.region_contrast_terms(emb[i], lbl[i, 0]))
        if not cont:
            return losses
        logits_all = torch.cat([c[0] for c in cont])
        target_all = torch.cat([c[1] for c in cont])
        anchors_all = torch.cat([c[0] for c in cons])
        protos_all = torch.cat([c[1] for c in cons])
        w_cont = proto_loss_weight(self.local_iter, self.proto_start_iter,
                                   self.proto_rampup_iters, self.lambda_cont)
        w_cons = proto_loss_weight(self.local_iter, self.proto_start_iter,
                                   self.proto_rampup_iters, self.lambda_cons)
        losses['fpc.loss_cont'] = w_cont * prototype_contrast_loss(logits_all, target_all,
                                                                   self.temperature)
        losses['fpc.loss_cons'] = w_cons * prototype_compactness_loss(anchors_all, protos_all)
        losses['fpc.num_anchors'] = torch.tensor(float(target_all.numel()),
                                                 device=logits_all.device)
        if target_all.numel():
            losses['fpc.mean_sim'] = (anchors_all.detach() * protos_all).sum(1).mean()
        return losses

    def region_contrast_terms(self, emb: Tensor, label: Tensor) -> Tuple[Tensor, Tensor]:
        """(logits, target) of one image's region anchors (`granularity='region'`): each
        8-connected class region's mean embedding against the sub-prototypes, positive = its
        class's Sinkhorn-assigned one. Regions do not update the memory."""
        regions, region_label = region_anchors(emb, label, self.region_min_area,
                                               self.max_regions)
        assignment = self.memory.assign(regions, region_label)
        used = assignment >= 0
        return (self.memory.logits(regions[used]),
                region_label[used] * self.num_prototypes + assignment[used])

    def update(self) -> Dict[str, Tensor]:
        """One memory update per iteration from the anchors of all passes (synchronised: every
        process calls it, with or without anchors)."""
        buffer, self.anchor_buffer = self.anchor_buffer, []
        if buffer:
            anchors, labels, assignment = (torch.cat(parts) for parts in zip(*buffer))
        else:
            device = self.memory.prototypes.device
            anchors = torch.zeros(0, self.proj_dim, device=device)
            labels = assignment = torch.zeros(0, dtype=torch.long, device=device)
        self.memory.update(anchors, labels, assignment, generator=self.generator)
        return {'fpc.num_init_classes': self.memory.initialized.float().sum(),
                'fpc.inter_class_sim': self.memory.inter_class_similarity()}

    def anchor_counts(self) -> Optional[Tensor]:
        """(C,) anchors per class kept so far this iteration (debug image); None if none."""
        if not self.anchor_buffer:
            return None
        labels = torch.cat([anchor_labels for _, anchor_labels, _ in self.anchor_buffer])
        return torch.bincount(labels, minlength=self.num_classes).float()
