"""PCPR: the MIC(HRDA) loop plus pseudo-label filtering (PLF) and finer prototypes (FPC).

docs/method/pcpr.md defines both parts. This class only orchestrates: the filter's formulas are in
`pseudo_label_filter.py`, the prototype machinery in `prototypes.py` and the losses in
`losses/prototype_contrast.py`. With `plf=None` and `fpc=None` every step is DACS's own, so
PCPR computes exactly what MIC computes.
"""
from copy import deepcopy

import torch
from mmcv.runner import get_dist_info

from ...utils.errors import refuse_unknown_keys
from ...utils.errors import UserError
from ..builder import UDA
from ..losses.prototype_contrast import (proto_loss_weight, prototype_compactness_loss,
                                         prototype_contrast_loss)
from ..utils.hr_crop_policy import (HR_CROP_POLICIES, SMALL_THING_CLASSES, entropy_map,
                                    thing_map)
from .dacs import DACS
from .prototypes import (ANCHOR_STREAM, PrototypeMemory, denoise_labels, downscale_labels,
                         own_seed, sample_anchors)
from .pseudo_label_filter import PseudoLabelFilter
from .region_prototypes import region_anchors
from .pseudo_labels import (confidence_quality, filter_valid_pseudo_region,
                            pseudo_label_from_logits)
from .teacher_module import disable_stochastic_layers

# Defaults of keys a config leaves out of `uda.fpc`. The shipped configs state the method's
# values in configs/_base_/uda/pcpr.py, their home; tests/configs checks that these agree.
FPC_DEFAULTS = dict(proj_dim=256, proto_scale='lr', label_min_ratio=0.75, reliable_weight=0.5,
                    max_samples=1024, max_views=100, min_views=10, num_prototypes=10,
                    sinkhorn_iters=3, sinkhorn_epsilon=0.05, proto_momentum=0.999,
                    temperature=0.1, lambda_cont=0.01, lambda_cons=0.001, proto_start_iter=1500,
                    proto_rampup_iters=0, granularity='pixel', region_min_area=4,
                    max_regions=32)


def resolve_fpc_cfg(fpc):
    """`uda.fpc` merged over the defaults; an unknown key is an error naming it."""
    refuse_unknown_keys(fpc, FPC_DEFAULTS, 'uda.fpc')
    cfg = dict(FPC_DEFAULTS, **fpc)
    if cfg['proto_scale'] not in ('lr', 'hr', 'both'):
        raise UserError(f"uda.fpc.proto_scale must be 'lr', 'hr' or 'both', "
                        f"got {cfg['proto_scale']!r}")
    if cfg['granularity'] not in ('pixel', 'region'):
        raise UserError(f"uda.fpc.granularity must be 'pixel' or 'region', "
                        f"got {cfg['granularity']!r}")
    return cfg


@UDA.register_module()
class PCPR(DACS):
    """MIC(HRDA) with pseudo-label filtering and finer prototype construction.

    Args:
        plf (dict | None): pseudo-label filter options (see `PseudoLabelFilter`); None = off.
        fpc (dict | None): prototype options, keys and defaults in `FPC_DEFAULTS`; None = off.
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
        self.fpc_cfg = resolve_fpc_cfg(fpc) if fpc is not None else None
        if self.fpc_cfg is not None:
            # The projection head belongs to the segmentor: the teacher gets a copy and
            # checkpoints carry it; it is not used at test time.
            model = deepcopy(model)
            model['proj_head'] = dict(type='ProjectionHead',
                                      in_channels=model['decode_head']['channels'],
                                      proj_dim=self.fpc_cfg['proj_dim'])
        super().__init__(model, max_iters, **kwargs)
        self.plf = PseudoLabelFilter.from_cfg(plf) if plf is not None else None
        if self.plf is not None and self.plf.proto_agreement is not None \
                and self.fpc_cfg is None:
            raise UserError('uda.plf.proto_agreement compares pseudo-labels with the class '
                            'prototypes of FPC: set uda.fpc=dict(...) too, or '
                            'plf.proto_agreement=None.')
        if self.fpc_cfg is not None:
            self.proto_memory = PrototypeMemory(
                self.num_classes, self.fpc_cfg['num_prototypes'], self.fpc_cfg['proj_dim'],
                self.fpc_cfg['proto_momentum'], self.fpc_cfg['sinkhorn_iters'],
                self.fpc_cfg['sinkhorn_epsilon'])
        self._anchor_buffer = []
        self._fpc_generator = None

    # ------------------------------------------------------------------ PLF
    def teacher_predict(self, target_img, target_img_metas):
        """Fused, LR and HR teacher logits (the latter two feed the scale consistency)."""
        if self.plf is None:
            return super().teacher_predict(target_img, target_img_metas)
        teacher = self.get_ema_model()
        disable_stochastic_layers(teacher)
        with torch.no_grad(), self.autocast(target_img.device):
            scales = teacher.encode_decode_scales(target_img, target_img_metas)
        return {k: (v.float() if v is not None else None) for k, v in scales.items()}

    def make_pseudo_labels(self, teacher_out, valid_pseudo_mask, target_gt=None,
                           offline_pl=None):
        if self.plf is None:
            pseudo = super().make_pseudo_labels(teacher_out, valid_pseudo_mask, target_gt)
            pseudo['reliability'] = torch.ones_like(pseudo['confidence'])
            pseudo['teacher'] = teacher_out
            return pseudo
        prob, label = pseudo_label_from_logits(teacher_out['fused'])
        quality = confidence_quality(prob, self.pseudo_threshold)
        valid = filter_valid_pseudo_region(torch.ones_like(prob), valid_pseudo_mask,
                                           self.psweight_ignore_top, self.psweight_ignore_bottom)
        proto_scores = None
        if self.plf.proto_agreement is not None:
            proto_scores = self.teacher_prototype_scores(teacher_out['lr_feat'], prob.shape[-2:])
        out = self.plf(teacher_out['fused'], teacher_out.get('lr'), teacher_out.get('hr'),
                       quality, valid_region=valid, gt=target_gt, pseudo=(prob, label),
                       offline_pl=offline_pl, proto_scores=proto_scores)
        if self.plf.plf_on_masked:
            masked_label, masked_weight = out.pseudo_label, out.pseudo_weight
        else:
            masked_label, masked_weight = label, quality * valid
        return dict(label=out.pseudo_label, weight=out.pseudo_weight, masked_label=masked_label,
                    masked_weight=masked_weight, confidence=out.maps['confidence'],
                    reliability=out.maps['reliability'], maps=out.maps, teacher=teacher_out,
                    log_vars=out.stats)

    def teacher_prototype_scores(self, lr_feat, size):
        """(B, C, H, W) similarity of the teacher's embedding (its EMA projection head on its
        LR decoder features) to each class's nearest prototype, at the pseudo-label size."""
        with torch.no_grad(), self.autocast(lr_feat.device):
            emb = self.get_ema_model().proj_head(lr_feat)
        return self.proto_memory.class_scores(emb.float(), size)

    # ------------------------------------------------------------------ HR crop policy
    def place_next_hr_crop(self, label, target_weight=None, teacher_logits=None):
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
    def source_pass(self, img, img_metas, gt_semantic_seg):
        self.place_next_hr_crop(gt_semantic_seg)
        if self.fpc_cfg is None:
            return super().source_pass(img, img_metas, gt_semantic_seg)
        losses = self.student_forward(img, img_metas, gt_semantic_seg,
                                      return_feat=self.enable_fdist, return_decoder_feat=True)
        decoder_feat = losses.pop('decoder_feat')
        losses.update({f'src.{k}': v for k, v in
                       self.prototype_losses(decoder_feat, gt_semantic_seg).items()})
        return losses, losses.pop('features', None)

    def mix_pass(self, mixed, img_metas, pseudo):
        from_target = torch.stack([1 - m.reshape(m.shape[-2:]) for m in mixed['masks']])
        self.place_next_hr_crop(mixed['label'], from_target, pseudo['teacher']['fused'])
        if self.fpc_cfg is None:
            return super().mix_pass(mixed, img_metas, pseudo)
        losses = self.student_forward(mixed['img'], img_metas, mixed['label'],
                                      seg_weight=mixed['weight'], return_decoder_feat=True)
        decoder_feat = losses.pop('decoder_feat')
        reliable_label = denoise_labels(mixed['label'], pseudo['reliability'],
                                        pseudo['confidence'], from_target,
                                        self.fpc_cfg['reliable_weight'], self.pseudo_threshold)
        losses.update(self.prototype_losses(decoder_feat, reliable_label))
        return losses

    def feature_views(self, decoder_feat, label):
        """(features, logits, label) per scale named by `proto_scale` (HR: the detail crop)."""
        scales = ['lr', 'hr'] if self.fpc_cfg['proto_scale'] == 'both' else \
            [self.fpc_cfg['proto_scale']]
        views = []
        for scale in scales:
            feat = decoder_feat.get(scale)
            if feat is None:
                if scale == 'hr':
                    raise UserError("uda.fpc.proto_scale='hr'/'both' needs an HRDA segmentor "
                                    'with an HR detail crop (model.hr_crop_size)')
                continue
            scale_label = label
            if scale == 'hr' and decoder_feat.get('hr_box') is not None:
                y1, y2, x1, x2 = decoder_feat['hr_box']
                scale_label = label[..., y1:y2, x1:x2]
            views.append((feat, decoder_feat[f'{scale}_logits'], scale_label))
        return views

    def prototype_losses(self, decoder_feat, label):
        """L_cont and L_cons of one pass; anchors are kept for the end-of-step memory update."""
        cfg = self.fpc_cfg
        proj_head = self.get_model().proj_head
        memory = self.proto_memory
        k = cfg['num_prototypes']
        losses = {}
        cont, cons = [], []
        for feat, logits, scale_label in self.feature_views(decoder_feat, label):
            with self.autocast(feat.device):
                emb = proj_head(feat)
            emb = emb.float().permute(0, 2, 3, 1)
            lbl = downscale_labels(scale_label, feat.shape[-2:], cfg['label_min_ratio'],
                                   self.num_classes)
            pred = logits.detach().argmax(dim=1)
            per_image = max(1, cfg['max_samples'] // emb.shape[0])
            for i in range(emb.shape[0]):
                flat_lbl = lbl[i, 0].flatten()
                idx = sample_anchors(flat_lbl, pred[i].flatten(), per_image, cfg['max_views'],
                                     cfg['min_views'], generator=self._fpc_generator,
                                     num_classes=self.num_classes)
                anchors = emb[i].reshape(-1, emb.shape[-1])[idx]
                anchor_lbl = flat_lbl[idx]
                assignment = memory.assign(anchors, anchor_lbl)
                used = assignment >= 0
                cont.append((memory.logits(anchors[used]),
                             anchor_lbl[used] * k + assignment[used]))
                cons.append((anchors[used], memory.assigned(anchor_lbl[used], assignment[used])))
                self._anchor_buffer.append((anchors.detach(), anchor_lbl, assignment))
                if cfg['granularity'] == 'region':
                    cont.append(self.region_contrast_terms(emb[i], lbl[i, 0]))
        if not cont:
            return losses
        logits_all = torch.cat([c[0] for c in cont])
        target_all = torch.cat([c[1] for c in cont])
        anchors_all = torch.cat([c[0] for c in cons])
        protos_all = torch.cat([c[1] for c in cons])
        w_cont = proto_loss_weight(self.local_iter, cfg['proto_start_iter'],
                                   cfg['proto_rampup_iters'], cfg['lambda_cont'])
        w_cons = proto_loss_weight(self.local_iter, cfg['proto_start_iter'],
                                   cfg['proto_rampup_iters'], cfg['lambda_cons'])
        losses['fpc.loss_cont'] = w_cont * prototype_contrast_loss(logits_all, target_all,
                                                                   cfg['temperature'])
        losses['fpc.loss_cons'] = w_cons * prototype_compactness_loss(anchors_all, protos_all)
        losses['fpc.num_anchors'] = torch.tensor(float(target_all.numel()),
                                                 device=logits_all.device)
        if target_all.numel():
            losses['fpc.mean_sim'] = (anchors_all.detach() * protos_all).sum(1).mean()
        return losses

    def region_contrast_terms(self, emb, label):
        """(logits, target) of one image's region anchors (`granularity='region'`): each
        8-connected class region's mean embedding against the sub-prototypes, positive = its
        class's Sinkhorn-assigned one. Regions do not update the memory."""
        cfg, memory = self.fpc_cfg, self.proto_memory
        regions, region_label = region_anchors(emb, label, cfg['region_min_area'],
                                               cfg['max_regions'])
        assignment = memory.assign(regions, region_label)
        used = assignment >= 0
        return (memory.logits(regions[used]),
                region_label[used] * cfg['num_prototypes'] + assignment[used])

    def update_prototypes(self):
        """One memory update per iteration from the anchors of all passes (synchronised)."""
        if self.fpc_cfg is None:
            return {}
        buffer, self._anchor_buffer = self._anchor_buffer, []
        if buffer:
            anchors, labels, assignment = (torch.cat(parts) for parts in zip(*buffer))
        else:
            device = self.proto_memory.prototypes.device
            anchors = torch.zeros(0, self.fpc_cfg['proj_dim'], device=device)
            labels = assignment = torch.zeros(0, dtype=torch.long, device=device)
        self.proto_memory.update(anchors, labels, assignment, generator=self._fpc_generator)
        return {'fpc.num_init_classes': self.proto_memory.initialized.float().sum(),
                'fpc.inter_class_sim': self.proto_memory.inter_class_similarity()}

    def forward_train(self, img, img_metas, gt_semantic_seg, target_img, target_img_metas,
                      valid_pseudo_mask=None, target_gt_semantic_seg=None, pl=None):
        if self.fpc_cfg is not None:
            # FPC's draws of this iteration, off the global stream (see `own_seed`); keyed by
            # iteration and rank, so a resumed run draws what the uninterrupted one drew.
            self._fpc_generator = torch.Generator(device=img.device).manual_seed(
                own_seed(ANCHOR_STREAM, self.local_iter, get_dist_info()[0]))
        try:
            log_vars = super().forward_train(img, img_metas, gt_semantic_seg, target_img,
                                             target_img_metas, valid_pseudo_mask,
                                             target_gt_semantic_seg, pl)
            log_vars.update(self.update_prototypes())
        finally:
            self._fpc_generator = None
        return log_vars

    # ------------------------------------------------------------------ debug images
    def debug_rows(self, img, gt_semantic_seg, target_img, pseudo, mixed, fdist_mask, params):
        rows = super().debug_rows(img, gt_semantic_seg, target_img, pseudo, mixed, fdist_mask,
                                  params)
        if self.plf is None:
            return rows
        teacher, maps = pseudo['teacher'], pseudo['maps']
        for j, row in enumerate(rows):
            for name in ('lr', 'hr'):
                if teacher.get(name) is not None:
                    row.append((f'Teacher {name.upper()}', teacher[name][j].argmax(0)))
            row += [('Consistency', maps['m_cons'][j]), ('Edge Prob.', maps['edge_prob'][j])]
            if 'm_proto' in maps:
                row.append(('Proto. Agreement', maps['m_proto'][j]))
            row.append(('Filtered PL', pseudo['label'][j]))
        if self.fpc_cfg is not None and self._anchor_buffer:
            labels = torch.cat([anchor_labels for _, anchor_labels, _ in self._anchor_buffer])
            counts = torch.bincount(labels, minlength=self.num_classes).float()
            rows[0].append(('Anchors per class (0..C-1)', counts[None],
                            dict(cmap='viridis', aspect='auto')))
        return rows
