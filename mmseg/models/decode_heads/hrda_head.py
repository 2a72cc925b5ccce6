"""HRDA's multi-resolution head: LR context and HR detail logits fused by a learned attention."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from ...ops import resize
from ..builder import HEADS, build_head
from ..segmentors.encoder_decoder import windows_cover
from ..utils.crop_box import Box, crop, scale_box
from ..utils.dict_prefix import add_prefix
from .daformer_head import attention_head_cfg
from .decode_head import BaseDecodeHead, Features

# HR input: the backbone maps of one image/crop, or the slide tiles of `extract_slide_feat`.
HRInput = Union[Features, Dict[str, object]]


@HEADS.register_module()
class HRDAHead(BaseDecodeHead):
    """Scale-attention fusion of a low-resolution (context) and a high-resolution (detail) pass.

    fused = att * hr_inserted + up((1 - att) * lr), with att = sigmoid(scale_attention(LR
    features)) masked to the HR crop during training (as MIC's `HRDAHead.forward`).

    Args:
        single_scale_head: type of the shared head, 'DAFormerHead' (output stride 4) or
            'DLV2Head' (DeepLabV2, output stride 8 with a dilated ResNet).
        lr_loss_weight, hr_loss_weight: weights of the extra LR / HR losses; the fused loss gets
            1 - lr_loss_weight - hr_loss_weight.
        scales: [lr_scale, hr_scale] (set by HRDAEncoderDecoder, sorted).
        attention_embed_dim: channels of the scale-attention decoder (DAFormerHead only).
        attention_classwise: one attention map per class (else a single map).
        enable_hr_crop: training uses an HR crop (set by HRDAEncoderDecoder).
        hr_slide_inference: inference HR features come as slide tiles (set by the segmentor).
        fixed_attention: a constant attention instead of the learned one (`--hrda-out`: 0.0 =
            LR only, 1.0 = HR only); the scale-attention head is then not built.
        debug_output_attention: `forward_test` returns the effective attention
            sum_c att_c * softmax(fused)_c, (B, 1, H, W) (`--hrda-out ATT`).
        **kwargs: the single-scale head's config (in_channels, channels, decoder_params, ...).
    """

    def __init__(self, single_scale_head: str, lr_loss_weight: float = 0,
                 hr_loss_weight: float = 0, scales: Sequence[float] = (1, ),
                 attention_embed_dim: int = 256, attention_classwise: bool = True,
                 enable_hr_crop: bool = False, hr_slide_inference: bool = True,
                 fixed_attention: Optional[float] = None, debug_output_attention: bool = False,
                 **kwargs):
        # The single-scale heads get the config as given (init_cfg included, as in MIC).
        head_cfg = dict(kwargs, type=single_scale_head)
        kwargs.pop('init_cfg', None)
        if single_scale_head == 'DAFormerHead':
            attn_cfg = attention_head_cfg(head_cfg, attention_embed_dim,
                                          None if attention_classwise else 1)
            kwargs['input_transform'] = 'multiple_select'
            output_stride = 4
        elif single_scale_head == 'DLV2Head':
            # DeepLabV2 has no decoder to shrink: the attention head is a DLV2Head alike.
            attn_cfg = dict(head_cfg) if attention_classwise else dict(head_cfg, num_classes=1)
            kwargs.pop('dilations', None)
            kwargs['channels'] = 1
            output_stride = 8
        else:
            raise NotImplementedError(f'HRDAHead supports single_scale_head DAFormerHead or '
                                      f'DLV2Head, got {single_scale_head!r}')
        super().__init__(init_cfg=None, **kwargs)
        # The wrapped heads classify; this wrapper only fuses their logits.
        del self.conv_seg
        del self.dropout
        self.head = build_head(head_cfg)
        self.scale_attention = None
        if fixed_attention is None:
            self.scale_attention = build_head(attn_cfg)
        self.fixed_attention = fixed_attention
        self.lr_loss_weight = lr_loss_weight
        self.hr_loss_weight = hr_loss_weight
        self.scales = list(scales)
        self.enable_hr_crop = enable_hr_crop
        self.hr_slide_inference = hr_slide_inference
        self.debug_output_attention = debug_output_attention
        self.os = output_stride  # of the single-scale head's logits

    def forward_features(self, inputs: Features) -> torch.Tensor:
        """Decoder features of ONE scale (B, channels, h, w); scales are fused as logits."""
        return self.head.forward_features(inputs)

    def cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        return self.head.cls_seg(feat)

    def _rescale(self, x: torch.Tensor, factor: float) -> torch.Tensor:
        return resize(x, scale_factor=factor, mode='bilinear', align_corners=self.align_corners)

    def decode_hr(self, hr_inp: HRInput, batch_size: int
                  ) -> Tuple[Optional[torch.Tensor], torch.Tensor]:
        """HR decoder features and logits (B, C, h, w).

        For slide tiles (dict with `features` of tile-major batches and `boxes` in input
        pixels), the tile logits are pasted at box / os and averaged by overlap count; the
        features are then None.
        """
        if not isinstance(hr_inp, dict):
            feat = self.head.forward_features(hr_inp)
            return feat, self.head.cls_seg(feat)
        tile_logits = self.head(hr_inp['features'])
        boxes = [scale_box(box, self.os) for box in hr_inp['boxes']]
        h = max(box[1] for box in boxes)
        w = max(box[3] for box in boxes)
        assert windows_cover(boxes, h, w), 'HR slide tiles do not cover the image'
        # Summed in fp32 (MIC's precision) also under bf16/fp16 autocast, whose 8/11-bit
        # mantissas would round every overlap's sum.
        preds = tile_logits.new_zeros((batch_size, tile_logits.shape[1], h, w),
                                      dtype=torch.float32)
        count = tile_logits.new_zeros((batch_size, 1, h, w), dtype=torch.float32)
        for i, (y1, y2, x1, x2) in enumerate(boxes):
            preds[:, :, y1:y2, x1:x2] += tile_logits[i * batch_size:(i + 1) * batch_size]
            count[:, :, y1:y2, x1:x2] += 1
        return None, preds / count

    def get_scale_attention(self, lr_inp: Features) -> Union[torch.Tensor, float]:
        """(B, C or 1, h, w) sigmoid attention from the LR features, or `fixed_attention`."""
        if self.scale_attention is None:
            return self.fixed_attention
        return torch.sigmoid(self.scale_attention(lr_inp))

    def forward_scales(self, inputs: List[HRInput],
                       hr_crop_box: Optional[Box] = None) -> Dict[str, object]:
        """Fuse the two scales.

        Args:
            inputs: [LR backbone maps, HR input]; the HR input is the crop `hr_crop_box`
                (training), the whole HR image or its slide tiles (inference).
            hr_crop_box: (y1, y2, x1, x2) of the HR crop in HR-image pixels, or None.
        Returns:
            dict(fused=(B, C, H/os, W/os) at HR resolution, lr=(1 - att) * lr logits at LR
            resolution, hr=HR logits (of the crop when cropped), lr_raw=LR logits before the
            attenuation, att=attention at HR resolution, lr_feat / hr_feat=decoder features
            before dropout (hr_feat None for slide tiles)).
        """
        assert len(inputs) == 2, 'HRDAHead fuses exactly two scales'
        lr_inp, hr_inp = inputs
        lr_scale, hr_scale = self.scales
        assert lr_scale <= hr_scale
        lr_feat = self.head.forward_features(lr_inp)
        lr_raw = self.head.cls_seg(lr_feat)
        hr_feat, hr_seg = self.decode_hr(hr_inp, lr_raw.shape[0])
        att = self.get_scale_attention(lr_inp)
        if hr_crop_box is not None:
            # Outside the detail crop the prediction is pure LR.
            mask = lr_raw.new_zeros((lr_raw.shape[0], 1, *lr_raw.shape[2:]))
            y1, y2, x1, x2 = scale_box(hr_crop_box, self.os / lr_scale)
            mask[:, :, y1:y2, x1:x2] = 1
            att = att * mask
        lr_seg = (1 - att) * lr_raw
        up_lr_seg = self._rescale(lr_seg, hr_scale / lr_scale)
        if torch.is_tensor(att):
            att = self._rescale(att, hr_scale / lr_scale)
        if hr_crop_box is not None:
            hr_inserted = torch.zeros_like(up_lr_seg)
            y1, y2, x1, x2 = scale_box(hr_crop_box, self.os)
            hr_inserted[:, :, y1:y2, x1:x2] = hr_seg
        else:
            hr_inserted = hr_seg
        fused = att * hr_inserted + up_lr_seg
        return dict(fused=fused, lr=lr_seg, hr=hr_seg, lr_raw=lr_raw, att=att, lr_feat=lr_feat,
                    hr_feat=hr_feat)

    def forward(self, inputs: List[HRInput], hr_crop_box: Optional[Box] = None
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(fused, attenuated lr, hr) logits, as MIC's HRDAHead.forward."""
        out = self.forward_scales(inputs, hr_crop_box)
        return out['fused'], out['lr'], out['hr']

    def forward_train(self, inputs: List[HRInput], img_metas: List[dict],
                      gt_semantic_seg: torch.Tensor, train_cfg: Optional[dict],
                      seg_weight: Optional[torch.Tensor] = None, return_logits: bool = False,
                      return_decoder_feat: bool = False,
                      hr_crop_box: Optional[Box] = None) -> Dict[str, object]:
        """Fused loss plus the weighted HR (and LR) losses; `logits` are the fused logits.

        `decoder_feat` holds dict(lr=LR features, lr_logits=raw LR logits, hr=HR crop features,
        hr_logits=HR crop logits).
        """
        assert not self.enable_hr_crop or hr_crop_box is not None, \
            'enable_hr_crop needs the crop box of the HR input'
        out = self.forward_scales(inputs, hr_crop_box)
        losses = self.losses((out['fused'], out['lr'], out['hr']), gt_semantic_seg, seg_weight,
                             hr_crop_box)
        if return_logits:
            losses['logits'] = out['fused']
        if return_decoder_feat:
            losses['decoder_feat'] = dict(lr=out['lr_feat'], lr_logits=out['lr_raw'],
                                          hr=out['hr_feat'], hr_logits=out['hr'])
        return losses

    def forward_test(self, inputs: List[HRInput], img_metas: List[dict],
                     test_cfg: Optional[dict]) -> torch.Tensor:
        """Fused logits, or with `debug_output_attention` the (B, 1, H, W) effective attention."""
        out = self.forward_scales(inputs)
        if self.debug_output_attention:
            probs = torch.softmax(out['fused'], dim=1)
            return torch.sum(out['att'] * probs, dim=1, keepdim=True)
        return out['fused']

    def losses(self, seg_logit: Tuple[torch.Tensor, torch.Tensor, torch.Tensor],
               seg_label: torch.Tensor, seg_weight: Optional[torch.Tensor] = None,
               hr_crop_box: Optional[Box] = None) -> Dict[str, torch.Tensor]:
        """`loss_seg` on the fused logits; `hr.loss_seg` on the label cropped like the HR input.

        Keys: loss_seg, acc_seg, [lr.loss_seg, lr.acc_seg], [hr.loss_seg, hr.acc_seg].
        """
        fused, lr_seg, hr_seg = seg_logit
        loss = super().losses(fused, seg_label, seg_weight)
        if self.lr_loss_weight == 0 and self.hr_loss_weight == 0:
            return loss
        if self.lr_loss_weight > 0:
            loss.update(add_prefix(super().losses(lr_seg, seg_label, seg_weight), 'lr'))
        if self.hr_loss_weight > 0:
            hr_label, hr_weight = seg_label, seg_weight
            if hr_crop_box is not None:
                hr_label = crop(seg_label, hr_crop_box)
                hr_weight = crop(seg_weight, hr_crop_box) if seg_weight is not None else None
            loss.update(add_prefix(super().losses(hr_seg, hr_label, hr_weight), 'hr'))
        loss['loss_seg'] = loss['loss_seg'] * (1 - self.lr_loss_weight - self.hr_loss_weight)
        if self.lr_loss_weight > 0:
            loss['lr.loss_seg'] = loss['lr.loss_seg'] * self.lr_loss_weight
        if self.hr_loss_weight > 0:
            loss['hr.loss_seg'] = loss['hr.loss_seg'] * self.hr_loss_weight
        return loss
