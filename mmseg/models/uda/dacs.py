"""DACS self-training with the DAFormer/HRDA/MIC additions: the MIC(HRDA) training loop.

One iteration, in MIC's order (each pass back-propagates right after its forward, so only one
pass's activations are alive at a time; the summed gradient equals that of the summed loss):

1. EMA teacher update.
2. Source pass (supervised CE) and the ImageNet feature distance on thing classes.
3. Teacher pseudo-labels on the target image, weighted by the confidence quality.
4. ClassMix of source and target + strong augmentation; mixed pass (pixel-weighted CE).
5. MIC masked pass on the colour-augmented, block-masked target image.
6. One optimizer step (in `UDADecorator.train_step`).

The formulas live in small modules (`ema`, `pseudo_labels`, `dacs_transforms`,
`feature_distance`, `masking_consistency_module`); this class only orchestrates them.
"""
import os
from copy import deepcopy
from typing import Dict, List, Optional, Tuple

import mmcv
import torch
from mmcv.utils import print_log
from torch import Tensor, nn

from ...core.evaluation.class_names import CITYSCAPES_PALETTE
from ..builder import UDA, build_segmentor
from ..utils.crop_box import crop
from ..utils.dacs_transforms import (denorm, draw_strong_parameters, get_class_masks,
                                     get_mean_std, strong_transform)
from ..utils.dict_prefix import add_prefix
from ..utils.feature_distance import feature_distance_mask, masked_feat_dist
from ..utils.visualization import save_debug_grid
from .ema import step_ema
from .handoffs import MixedBatch, PseudoLabels, TeacherOutput
from .masking_consistency_module import MaskingConsistencyModule
from .pseudo_labels import (confidence_quality, filter_valid_pseudo_region,
                            pseudo_label_from_logits, teacher_diagnostics)
from .teacher_module import disable_stochastic_layers
from .uda_decorator import UDADecorator, get_module, parse_losses


def grad_magnitude(params):
    return torch.norm(torch.stack([p.grad.detach().norm(2) for p in params
                                   if p.grad is not None]), 2)


@UDA.register_module()
class DACS(UDADecorator):
    """MIC(HRDA)'s UDA loop. Config keys and defaults are MIC's (`_base_/uda/dacs.py`).

    Args:
        alpha (float): EMA momentum of the teacher (MIC: 0.999).
        pseudo_threshold (float): confidence above which a target pixel counts as confident for
            the pseudo weight (the fraction of confident pixels of the batch).
        pseudo_weight_ignore_top / pseudo_weight_ignore_bottom (int): rows of the target crop
            whose pseudo weight is zeroed (DAFormer); exclusive with `crop_pseudo_margins`.
        imnet_feature_dist_lambda (float): weight of the ImageNet feature distance (0 = off).
        imnet_feature_dist_classes (list[int] | None): classes where the distance applies.
        imnet_feature_dist_scale_min_ratio (float): label purity for the downscaled mask.
        mix (str): 'class' (ClassMix) — the only mixing MIC uses.
        blur (bool): Gaussian blur in the strong augmentation.
        color_jitter_strength / color_jitter_probability (float): kornia-0.5.8 colour jitter;
            applied when a uniform draw exceeds the "probability", i.e. with p = 0.8 (MIC quirk).
        debug_img_interval (int): iterations between debug images (the training log config's
            `img_interval` takes precedence, as in MIC).
        print_grad_magnitude (bool): log the gradient norm of the source pass.
        joint_fdist_backward (bool): back-propagate the source loss and the feature distance
            together (one walk of the backbone graph) instead of MIC's two backward calls;
            the gradient differs only by float summation order. Default False = MIC.
        source_only (bool): train on the source only (no teacher, no mixing). With `mask_mode`
            set, MIC still runs its masked pass, on the source images and labels (MIC's
            "supervised training with masking").
        mask_mode, mask_alpha, mask_pseudo_threshold, mask_lambda, mask_generator: MIC's masked
            image consistency (see `MaskingConsistencyModule`); `mask_mode=None` turns it off.
        mixed_precision (str | None): see `UDADecorator`.
    """

    def __init__(self, model, max_iters, alpha=0.99, pseudo_threshold=0.968,
                 pseudo_weight_ignore_top=0, pseudo_weight_ignore_bottom=0,
                 imnet_feature_dist_lambda=0, imnet_feature_dist_classes=None,
                 imnet_feature_dist_scale_min_ratio=None, mix='class', blur=True,
                 color_jitter_strength=0.2, color_jitter_probability=0.2,
                 debug_img_interval=1000, print_grad_magnitude=False,
                 joint_fdist_backward=False, source_only=False,
                 mask_mode=None, mask_alpha='same', mask_pseudo_threshold='same', mask_lambda=0,
                 mask_generator=None, mixed_precision=None):
        super().__init__(model, max_iters, mixed_precision=mixed_precision)
        if mix != 'class':
            raise ValueError(f"uda.mix={mix!r} is not supported; MIC uses mix='class'")
        self.local_iter = 0
        self.alpha = alpha
        self.pseudo_threshold = pseudo_threshold
        self.psweight_ignore_top = pseudo_weight_ignore_top
        self.psweight_ignore_bottom = pseudo_weight_ignore_bottom
        self.fdist_lambda = imnet_feature_dist_lambda
        self.fdist_classes = imnet_feature_dist_classes
        self.fdist_scale_min_ratio = imnet_feature_dist_scale_min_ratio
        self.enable_fdist = self.fdist_lambda > 0
        self.blur = blur
        self.color_jitter_s = color_jitter_strength
        self.color_jitter_p = color_jitter_probability
        log_config = self.train_cfg.get('log_config') or {}
        self.debug_img_interval = log_config.get('img_interval', debug_img_interval)
        self.print_grad_magnitude = print_grad_magnitude
        self.joint_fdist_backward = joint_fdist_backward
        self.source_only = source_only
        self.enable_masking = mask_mode is not None

        if not source_only:
            self.ema_model = build_segmentor(deepcopy(model))
        self.mic = None
        if self.enable_masking:
            self.mic = MaskingConsistencyModule(
                mask_mode=mask_mode, mask_generator=mask_generator, mask_lambda=mask_lambda,
                color_jitter_strength=color_jitter_strength,
                color_jitter_probability=color_jitter_probability, mask_alpha=mask_alpha,
                mask_pseudo_threshold=mask_pseudo_threshold, source_only=source_only,
                model=model, alpha=alpha, pseudo_threshold=pseudo_threshold,
                pseudo_weight_ignore_top=pseudo_weight_ignore_top,
                pseudo_weight_ignore_bottom=pseudo_weight_ignore_bottom)
        if self.enable_fdist:
            self.imnet_model = build_segmentor(deepcopy(model))
            self.imnet_model.requires_grad_(False)

    def init_weights(self) -> None:
        """Initialise every model, then give the frozen ImageNet model the student's initial
        pyramid (`backbone.pyramid` of a ViT backbone).

        The feature distance reads the backbone's last map; for MiT both models load all of it
        from `pretrained`, so it is 0 before the first step. A ViT's pyramid (simple pyramid,
        ViT-Adapter) is not in the ViT's weights: without the copy, the frozen model's would be
        another random initialisation, and the distance would pull the student's features
        towards a random projection of the pretrained ViT's.
        """
        super().init_weights()
        pyramid = getattr(self.get_model().backbone, 'pyramid', None)
        if self.enable_fdist and pyramid is not None:
            self.get_imnet_model().backbone.pyramid.load_state_dict(pyramid.state_dict())

    def get_ema_model(self) -> nn.Module:
        return get_module(self.ema_model)

    def get_imnet_model(self) -> nn.Module:
        return get_module(self.imnet_model)

    # ------------------------------------------------------------------ steps of one iteration
    def update_teacher(self) -> None:
        """Step 1: copy the student at iteration 0, EMA-average it afterwards.

        MIC's separate masking teacher (if any) is stepped even in source-only training, as MIC
        does."""
        if not self.source_only:
            step_ema(self.get_ema_model(), self.get_model(), self.local_iter, self.alpha)
        if self.mic is not None:
            self.mic.update_weights(self.get_model(), self.local_iter)

    def draw_strong_parameters(self, img_metas: List[dict], device: torch.device) -> dict:
        """Per-iteration random draws of the strong augmentation, shared by the batch (MIC)."""
        means, stds = get_mean_std(img_metas, device)
        return draw_strong_parameters(means[0].unsqueeze(0), stds[0].unsqueeze(0),
                                      self.color_jitter_s, self.color_jitter_p, self.blur)

    def student_forward(self, img: Tensor, img_metas: List[dict], gt_semantic_seg: Tensor,
                        seg_weight: Optional[Tensor] = None, **kwargs) -> Dict[str, object]:
        with self.autocast(img.device):
            return self.get_model().forward_train(img, img_metas, gt_semantic_seg,
                                                  seg_weight=seg_weight, **kwargs)

    def source_pass(self, img: Tensor, img_metas: List[dict], gt_semantic_seg: Tensor
                    ) -> Tuple[Dict[str, object], Optional[object]]:
        """Step 2: supervised source losses (and the features for the feature distance)."""
        losses = self.student_forward(img, img_metas, gt_semantic_seg,
                                      return_feat=self.enable_fdist)
        return losses, losses.pop('features', None)

    def calc_feat_dist(self, img, gt_semantic_seg, feat):
        """ImageNet feature distance on the last backbone stage, restricted to thing classes.

        HRDA with `feature_scale='all'` (MIC): `feat` holds one feature list per scale; the
        distance is summed over the scales, the ImageNet model sees the source pass's detail
        crop and the HR scale's label is cropped to it. Returns the loss and the (first scale's)
        cell mask for the debug image.
        """
        model, imnet = self.get_model(), self.get_imnet_model()
        imnet.eval()
        if getattr(model, 'feature_scale', None) != 'all':
            with torch.no_grad(), self.autocast(img.device):
                feat_imnet = imnet.extract_feat(img)
            dist, mask = self.feat_dist_one_scale(feat[-1], feat_imnet[-1], gt_semantic_seg)
            return self.fdist_lambda * dist, mask
        crop_box = model.last_train_crop_box
        with torch.no_grad(), self.autocast(img.device):
            feat_imnet = imnet.extract_feat(img, hr_crop_box=crop_box)
        total, first_mask = 0, None
        for scale_idx, (student, frozen) in enumerate(zip(feat, feat_imnet)):
            gt = gt_semantic_seg
            if scale_idx >= 1 and crop_box is not None:
                gt = crop(gt, crop_box)
            dist, mask = self.feat_dist_one_scale(student[-1], frozen[-1], gt)
            total = total + dist
            first_mask = mask if first_mask is None else first_mask
        return self.fdist_lambda * total, first_mask

    def feat_dist_one_scale(self, student, frozen, gt_semantic_seg):
        """Masked distance of one (B, C, h, w) student map to the frozen ImageNet map."""
        mask = None
        if self.fdist_classes is not None:
            mask = feature_distance_mask(gt_semantic_seg, student.shape[-2:], self.fdist_classes,
                                         self.fdist_scale_min_ratio, self.num_classes, 255)
        return masked_feat_dist(student.float(), frozen.detach().float(), mask), mask

    def teacher_predict(self, target_img: Tensor, target_img_metas: List[dict]) -> TeacherOutput:
        """Step 3a: teacher logits on the target image (HRDA: LR + HR slide inference)."""
        teacher = self.get_ema_model()
        disable_stochastic_layers(teacher)
        with torch.no_grad(), self.autocast(target_img.device):
            logits = teacher.generate_pseudo_label(target_img, target_img_metas)
        return TeacherOutput(fused=logits.float())

    def make_pseudo_labels(self, teacher_out: TeacherOutput, valid_pseudo_mask: Optional[Tensor],
                           target_gt: Optional[Tensor] = None) -> PseudoLabels:
        """Step 3b: pseudo-label and per-pixel weight (confidence quality, valid region).
        """
        prob, label = pseudo_label_from_logits(teacher_out.fused)
        quality = confidence_quality(prob, self.pseudo_threshold)
        weight = quality * torch.ones_like(prob)
        weight = filter_valid_pseudo_region(weight, valid_pseudo_mask, self.psweight_ignore_top,
                                            self.psweight_ignore_bottom)
        log_vars = {}
        if target_gt is not None:  # debug labels (data.train.debug_gt): the teacher's regime
            log_vars = teacher_diagnostics(prob, label, target_gt, self.pseudo_threshold)
        return PseudoLabels(label=label, weight=weight, masked_label=label, masked_weight=weight,
                            confidence=prob, log_vars=log_vars)

    def class_mix(self, img: Tensor, gt_semantic_seg: Tensor, target_img: Tensor,
                  pseudo: PseudoLabels, params: dict) -> MixedBatch:
        """Step 4a: paste half of the source classes onto the target, then augment strongly."""
        pseudo_label, pseudo_weight = pseudo.label, pseudo.weight
        batch_size = img.shape[0]
        masks = get_class_masks(gt_semantic_seg)
        mixed_img, mixed_lbl, mixed_weight = [], [], []
        gt_pixel_weight = torch.ones_like(pseudo_weight)
        for i in range(batch_size):
            params['mix'] = masks[i]
            mix_img, mix_lbl = strong_transform(
                params, data=torch.stack((img[i], target_img[i])),
                target=torch.stack((gt_semantic_seg[i][0], pseudo_label[i])))
            _, mix_weight = strong_transform(
                params, target=torch.stack((gt_pixel_weight[i], pseudo_weight[i])))
            mixed_img.append(mix_img)
            mixed_lbl.append(mix_lbl)
            mixed_weight.append(mix_weight.reshape(pseudo_weight.shape[1:]))
        return MixedBatch(img=torch.cat(mixed_img), label=torch.cat(mixed_lbl).long(),
                          weight=torch.stack(mixed_weight), masks=masks, pseudo=pseudo)

    def mix_pass(self, mixed: MixedBatch, img_metas: List[dict]) -> Dict[str, object]:
        """Step 4b: student on the mixed image, CE weighted per pixel."""
        return self.student_forward(mixed.img, img_metas, mixed.label, seg_weight=mixed.weight)

    # ------------------------------------------------------------------ the iteration
    def forward_train(self, img: Tensor, img_metas: List[dict], gt_semantic_seg: Tensor,
                      target_img: Tensor, target_img_metas: List[dict],
                      valid_pseudo_mask: Optional[Tensor] = None,
                      target_gt_semantic_seg: Optional[Tensor] = None,
                      pl: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """One UDA iteration; back-propagates each pass and returns the log variables.

        `pl`: (B, 1, H, W) offline target pseudo-labels when the target dataset has a `pl_dir`;
        DACS does not use them (PCPR's filter does).
        """
        log_vars = {}
        self.update_teacher()
        params = self.draw_strong_parameters(img_metas, img.device)

        src_losses, src_feat = self.source_pass(img, img_metas, gt_semantic_seg)
        src_loss, src_log = parse_losses(src_losses)
        log_vars.update(src_log)
        # MIC back-propagates the source loss (keeping the graph) and then the feature
        # distance, which walks the backbone graph a second time. `joint_fdist_backward`
        # back-propagates their sum in one walk: the same gradient up to float summation order.
        joint = (self.enable_fdist and self.joint_fdist_backward
                 and not self.print_grad_magnitude)
        if not joint:
            self.backward(src_loss, retain_graph=self.enable_fdist)
        if self.print_grad_magnitude:
            print_log(f'Seg. Grad.: {grad_magnitude(self.get_model().backbone.parameters())}',
                      'mmseg')
        fdist_mask = None
        if self.enable_fdist:
            feat_loss, fdist_mask = self.calc_feat_dist(img, gt_semantic_seg, src_feat)
            log_vars['src.loss_imnet_feat_dist'] = feat_loss.detach()
            self.backward(src_loss + feat_loss if joint else feat_loss)
            del feat_loss
        # As MIC: the source graph (retained for the feature distance) is freed here, before
        # the teacher, mixed and masked passes allocate their activations.
        del src_feat, src_losses, src_loss

        pseudo = mixed = None
        if not self.source_only:
            teacher_out = self.teacher_predict(target_img, target_img_metas)
            pseudo = self.make_pseudo_labels(teacher_out, valid_pseudo_mask,
                                             target_gt_semantic_seg)
            log_vars.update(pseudo.log_vars)

            mixed = self.class_mix(img, gt_semantic_seg, target_img, pseudo, params)
            mix_loss, mix_log = parse_losses(add_prefix(self.mix_pass(mixed, img_metas), 'mix'))
            log_vars.update(mix_log)
            self.backward(mix_loss)

        if self.enable_masking:
            with self.autocast(img.device):
                masked_losses = self.mic(
                    self.get_model(), img, img_metas, gt_semantic_seg, target_img,
                    target_img_metas, valid_pseudo_mask,
                    pseudo.masked_label if pseudo is not None else None,
                    pseudo.masked_weight if pseudo is not None else None)
            masked_loss, masked_log = parse_losses(add_prefix(masked_losses, 'masked'))
            log_vars.update(masked_log)
            self.backward(masked_loss)

        if (not self.source_only and self.debug_img_interval
                and self.local_iter % self.debug_img_interval == 0):
            self.save_debug_images(img, gt_semantic_seg, target_img, pseudo, mixed, fdist_mask,
                                   params)
        self.local_iter += 1
        return log_vars

    # ------------------------------------------------------------------ debug images
    def debug_rows(self, img, gt_semantic_seg, target_img, pseudo, mixed, fdist_mask, params):
        """Rows of (title, image | label | map) for the debug grid of the first images."""
        mean, std = params['mean'], params['std']
        rows = []
        masked_img = self.mic.debug_output.get('masked_img') if self.mic is not None else None
        for j in range(min(2, img.shape[0])):
            row = [('Source Image', denorm(img[j:j + 1], mean, std)[0]),
                   ('Source Seg GT', gt_semantic_seg[j, 0]),
                   ('Target Image', denorm(target_img[j:j + 1], mean, std)[0]),
                   ('Target Pseudo Label', pseudo.label[j]),
                   ('Pseudo Weight', pseudo.weight[j]),
                   ('Mixed Image', denorm(mixed.img[j:j + 1], mean, std)[0]),
                   ('Mixed Label', mixed.label[j, 0]),
                   ('Domain Mask', mixed.masks[j][0, 0].float())]
            if masked_img is not None:
                row.append(('Masked Image', denorm(masked_img[j:j + 1], mean, std)[0]))
            if fdist_mask is not None:
                row.append(('FDist Mask', fdist_mask[j, 0].float()))
            rows.append(row)
        return rows

    def save_debug_images(self, *args):
        work_dir = self.train_cfg.get('work_dir')
        if not work_dir:
            return
        out_dir = os.path.join(work_dir, 'debug')
        mmcv.mkdir_or_exist(out_dir)
        save_debug_grid(os.path.join(out_dir, f'{self.local_iter + 1:06d}.png'),
                        self.debug_rows(*args), palette=CITYSCAPES_PALETTE)
