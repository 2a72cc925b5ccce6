"""PCPR: the MIC(HRDA) loop plus pseudo-label filtering (PLF) and finer prototypes (FPC).

docs/method/pcpr.md defines both parts. This class only orchestrates: the filter's formulas are in
`pseudo_label_filter.py`, FPC's losses and memory in `prototype_learner.py` (on the machinery of
`prototypes.py` and `losses/prototype_contrast.py`). With `plf=None` and `fpc=None` every step
is DACS's own, so PCPR computes exactly what MIC computes.
"""
from copy import deepcopy
from typing import Dict, List, Optional, Tuple

import torch
from mmcv.runner import get_dist_info
from torch import Tensor

from ...utils.errors import UserError
from ..builder import UDA
from ..utils.hr_crop_policy import (HR_CROP_POLICIES, SMALL_THING_CLASSES, entropy_map,
                                    thing_map)
from .dacs import DACS
from .handoffs import DecoderFeatures, MixedBatch, PseudoLabels, TeacherOutput
from .prototype_learner import PrototypeLearner
from .pseudo_label_filter import PseudoLabelFilter
from .pseudo_labels import (confidence_quality, filter_valid_pseudo_region,
                            pseudo_label_from_logits, teacher_diagnostics)
from .teacher_module import disable_stochastic_layers


@UDA.register_module()
class PCPR(DACS):
    """MIC(HRDA) with pseudo-label filtering and finer prototype construction.

    Args:
        plf (dict | None): pseudo-label filter options (see `PseudoLabelFilter`); None = off.
        fpc (dict | None): prototype options (see `PrototypeLearner`); None = off.
        hr_crop_policy (str): HRDA detail crop of the source and mixed passes: 'random' (HRDA),
            'entropy' (largest teacher entropy over the mixed image's target pixels; the source
            pass stays random) or 'things' (centred on a pixel of `hr_crop_classes`).
        hr_crop_classes (sequence[int]): the small thing classes of 'things'.
        **kwargs: the DACS/MIC keys.
    """

    def __init__(self, model, max_iters, plf=None, fpc=None, hr_crop_policy='random',
                 hr_crop_classes=SMALL_THING_CLASSES, **kwargs):
        if hr_crop_policy not in HR_CROP_POLICIES:
            raise UserError(f'uda.hr_crop_policy={hr_crop_policy!r}: use one of '
                            f'{", ".join(HR_CROP_POLICIES)}')
        if hr_crop_policy != 'random' and (model.get('type') != 'HRDAEncoderDecoder'
                                           or model.get('hr_crop_size') is None):
            raise UserError(f'uda.hr_crop_policy={hr_crop_policy!r} places HRDA\'s detail crop: '
                            'it needs model.type=HRDAEncoderDecoder with an hr_crop_size.')
        self.hr_crop_policy = hr_crop_policy
        self.hr_crop_classes = tuple(hr_crop_classes)
        # The batch's offline target pseudo-labels (dataset `pl_dir`), set for one iteration.
        self.offline_pl = None
        num_classes = model['decode_head']['num_classes']
        self.fpc = PrototypeLearner.from_cfg(fpc, num_classes) if fpc is not None else None
        if self.fpc is not None:
            # The projection head belongs to the segmentor: the teacher gets a copy and
            # checkpoints carry it; it is not used at test time.
            model = deepcopy(model)
            model['proj_head'] = dict(type='ProjectionHead',
                                      in_channels=model['decode_head']['channels'],
                                      proj_dim=self.fpc.proj_dim)
        super().__init__(model, max_iters, **kwargs)
        self.plf = PseudoLabelFilter.from_cfg(plf) if plf is not None else None
        if self.plf is not None and self.plf.proto_agreement is not None \
                and self.fpc is None:
            raise UserError('uda.plf.proto_agreement compares pseudo-labels with the class '
                            'prototypes of FPC: set uda.fpc=dict(...) too, or '
                            'plf.proto_agreement=None.')
        if self.fpc is not None:
            # Registered here, not inside the learner: checkpoints keep `proto_memory.*`.
            self.proto_memory = self.fpc.memory

    # ------------------------------------------------------------------ PLF
    def teacher_predict(self, target_img: Tensor, target_img_metas: List[dict]) -> TeacherOutput:
        """Fused, LR and HR teacher logits (the latter two feed the scale consistency)."""
        if self.plf is None:
            return super().teacher_predict(target_img, target_img_metas)
        teacher = self.get_ema_model()
        disable_stochastic_layers(teacher)
        with torch.no_grad(), self.autocast(target_img.device):
            scales = teacher.encode_decode_scales(target_img, target_img_metas)
        return TeacherOutput(**{k: (v.float() if v is not None else None)
                                for k, v in scales.items()})

    def make_pseudo_labels(self, teacher_out: TeacherOutput, valid_pseudo_mask: Optional[Tensor],
                           target_gt: Optional[Tensor] = None) -> PseudoLabels:
        if self.plf is None:
            pseudo = super().make_pseudo_labels(teacher_out, valid_pseudo_mask, target_gt)
            pseudo.reliability = torch.ones_like(pseudo.confidence)
            pseudo.teacher = teacher_out
            return pseudo
        prob, label = pseudo_label_from_logits(teacher_out.fused)
        quality = confidence_quality(prob, self.pseudo_threshold)
        valid = filter_valid_pseudo_region(torch.ones_like(prob), valid_pseudo_mask,
                                           self.psweight_ignore_top, self.psweight_ignore_bottom)
        proto_scores = None
        if self.plf.proto_agreement is not None:
            proto_scores = self.teacher_prototype_scores(teacher_out.lr_feat, prob.shape[-2:])
        out = self.plf(teacher_out.fused, teacher_out.lr, teacher_out.hr,
                       quality, valid_region=valid, gt=target_gt, pseudo=(prob, label),
                       offline_pl=self.offline_pl, proto_scores=proto_scores)
        if self.plf.plf_on_masked:
            masked_label, masked_weight = out.pseudo_label, out.pseudo_weight
        else:
            masked_label, masked_weight = label, quality * valid
        log_vars = dict(out.stats)
        if target_gt is not None:
            log_vars.update(teacher_diagnostics(prob, label, target_gt, self.pseudo_threshold))
        return PseudoLabels(label=out.pseudo_label, weight=out.pseudo_weight,
                            masked_label=masked_label, masked_weight=masked_weight,
                            confidence=out.maps['confidence'], log_vars=log_vars,
                            reliability=out.maps['reliability'], maps=out.maps,
                            teacher=teacher_out)

    def teacher_prototype_scores(self, lr_feat: Tensor, size: Tuple[int, int]) -> Tensor:
        """(B, C, H, W) similarity of the teacher's embedding (its EMA projection head on its
        LR decoder features) to each class's nearest prototype, at the pseudo-label size."""
        with torch.no_grad(), self.autocast(lr_feat.device):
            emb = self.get_ema_model().proj_head(lr_feat)
        return self.proto_memory.class_scores(emb.float(), size)

    # ------------------------------------------------------------------ HR crop policy
    def place_next_hr_crop(self, label: Tensor, target_weight: Optional[Tensor] = None,
                           teacher_logits: Optional[Tensor] = None) -> None:
        """Hand the next pass's crop map to the segmentor ('random': nothing to do).

        Args:
            label: (B, 1, H, W) the pass's labels ('things').
            target_weight: (B, H, W) 1 on target pixels ('entropy'); None = source pass.
            teacher_logits: (B, C, H, W) teacher logits on the target image ('entropy').
        """
        if self.hr_crop_policy == 'things':
            score = thing_map(label, self.hr_crop_classes)
        elif self.hr_crop_policy == 'entropy' and teacher_logits is not None:
            score = entropy_map(teacher_logits, target_weight)
        else:
            return
        self.get_model().set_next_crop_score(self.hr_crop_policy, score)

    # ------------------------------------------------------------------ FPC
    def source_pass(self, img: Tensor, img_metas: List[dict], gt_semantic_seg: Tensor
                    ) -> Tuple[Dict[str, object], Optional[object]]:
        self.place_next_hr_crop(gt_semantic_seg)
        if self.fpc is None:
            return super().source_pass(img, img_metas, gt_semantic_seg)
        losses = self.student_forward(img, img_metas, gt_semantic_seg,
                                      return_feat=self.enable_fdist, return_decoder_feat=True)
        decoder_feat = DecoderFeatures(**losses.pop('decoder_feat'))
        losses.update({f'src.{k}': v for k, v in
                       self.prototype_losses(decoder_feat, gt_semantic_seg).items()})
        return losses, losses.pop('features', None)

    def mix_pass(self, mixed: MixedBatch, img_metas: List[dict]) -> Dict[str, object]:
        pseudo = mixed.pseudo
        from_target = torch.stack([1 - m.reshape(m.shape[-2:]) for m in mixed.masks])
        self.place_next_hr_crop(mixed.label, from_target, pseudo.teacher.fused)
        if self.fpc is None:
            return super().mix_pass(mixed, img_metas)
        losses = self.student_forward(mixed.img, img_metas, mixed.label,
                                      seg_weight=mixed.weight, return_decoder_feat=True)
        decoder_feat = DecoderFeatures(**losses.pop('decoder_feat'))
        reliable_label = self.fpc.reliable_labels(mixed.label, pseudo.reliability,
                                                  pseudo.confidence, from_target,
                                                  self.pseudo_threshold)
        losses.update(self.prototype_losses(decoder_feat, reliable_label))
        return losses

    def prototype_losses(self, decoder_feat: DecoderFeatures, label: Tensor) -> Dict[str, Tensor]:
        """FPC's losses of one pass, on the student's projection head."""
        return self.fpc.losses(decoder_feat, label, self.get_model().proj_head, self.autocast)

    def forward_train(self, img: Tensor, img_metas: List[dict], gt_semantic_seg: Tensor,
                      target_img: Tensor, target_img_metas: List[dict],
                      valid_pseudo_mask: Optional[Tensor] = None,
                      target_gt_semantic_seg: Optional[Tensor] = None,
                      pl: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """DACS's iteration; the batch's offline pseudo-labels `pl` are the filter's input for
        this iteration, and FPC's memory is updated once at its end."""
        self.offline_pl = pl
        if self.fpc is not None:
            self.fpc.start_iteration(self.local_iter, get_dist_info()[0], img.device)
        try:
            log_vars = super().forward_train(img, img_metas, gt_semantic_seg, target_img,
                                             target_img_metas, valid_pseudo_mask,
                                             target_gt_semantic_seg, pl)
            if self.fpc is not None:
                log_vars.update(self.fpc.update())
        finally:
            self.offline_pl = None
            if self.fpc is not None:
                self.fpc.end_iteration()
        return log_vars

    # ------------------------------------------------------------------ debug images
    def debug_rows(self, img, gt_semantic_seg, target_img, pseudo, mixed, fdist_mask, params):
        rows = super().debug_rows(img, gt_semantic_seg, target_img, pseudo, mixed, fdist_mask,
                                  params)
        if self.plf is None:
            return rows
        teacher, maps = pseudo.teacher, pseudo.maps
        for j, row in enumerate(rows):
            for name in ('lr', 'hr'):
                logits = getattr(teacher, name)
                if logits is not None:
                    row.append((f'Teacher {name.upper()}', logits[j].argmax(0)))
            row += [('Consistency', maps['m_cons'][j]), ('Edge Prob.', maps['edge_prob'][j])]
            if 'm_proto' in maps:
                row.append(('Proto. Agreement', maps['m_proto'][j]))
            row.append(('Filtered PL', pseudo.label[j]))
        counts = self.fpc.anchor_counts() if self.fpc is not None else None
        if counts is not None:
            rows[0].append(('Anchors per class (0..C-1)', counts[None],
                            dict(cmap='viridis', aspect='auto')))
        return rows
