"""Backbone + decode head segmentor with whole-image and sliding-window inference."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.utils import ConfigDict

from ...ops import resize
from .. import builder
from ..builder import SEGMENTORS
from ..utils.dict_prefix import add_prefix
from .base import BaseSegmentor


def slide_windows(h_img: int, w_img: int, crop_size: Tuple[int, int],
                  stride: Tuple[int, int]) -> List[Tuple[int, int, int, int]]:
    """Row-major (y1, y2, x1, x2) windows covering an h_img x w_img image.

    Per axis: max(size - crop + stride - 1, 0) // stride + 1 windows; the last one is shifted
    back so that it ends at the border (as MIC's `EncoderDecoder.slide_inference` and HRDA's
    `extract_slide_feat`).
    """
    h_crop, w_crop = crop_size
    h_stride, w_stride = stride
    h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
    windows = []
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y2 = min(h_idx * h_stride + h_crop, h_img)
            x2 = min(w_idx * w_stride + w_crop, w_img)
            windows.append((max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2))
    return windows


def windows_cover(windows: List[Tuple[int, int, int, int]], h_img: int, w_img: int) -> bool:
    """Whether a grid of (y1, y2, x1, x2) windows (as `slide_windows` makes) covers the image.

    Checked on the box coordinates, so inference needs no device-to-host copy of a count map.
    """
    def axis_covered(intervals, size):
        reach = 0
        for start, end in sorted(set(intervals)):
            if start > reach:
                return False
            reach = max(reach, end)
        return reach >= size

    return (axis_covered([(y1, y2) for y1, y2, _, _ in windows], h_img)
            and axis_covered([(x1, x2) for _, _, x1, x2 in windows], w_img))


@SEGMENTORS.register_module()
class EncoderDecoder(BaseSegmentor):
    """backbone -> (neck) -> decode head, plus an optional auxiliary head.

    Args:
        backbone, decode_head, neck, auxiliary_head: module configs.
        train_cfg, test_cfg: test_cfg = dict(mode='whole') or dict(mode='slide',
            crop_size=(h, w), stride=(h, w), batched_slide=False).
        pretrained: backbone checkpoint, copied to `backbone.pretrained` as MIC does.
        init_cfg: mmcv init config of the segmentor.
        proj_head: optional head config (PCPR's projection head) stored as `proj_head`;
            the segmentor never calls it.
    """

    def __init__(self, backbone: dict, decode_head: dict, neck: Optional[dict] = None,
                 auxiliary_head: Optional[dict] = None, train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None, pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None, proj_head: Optional[dict] = None):
        super().__init__(init_cfg)
        if pretrained is not None:
            assert backbone.get('pretrained') is None, \
                'both backbone and segmentor set pretrained weight'
            backbone = dict(backbone, pretrained=pretrained)
        self.backbone = builder.build_backbone(backbone)
        if neck is not None:
            self.neck = builder.build_neck(neck)
        self._init_decode_head(decode_head)
        self.auxiliary_head = self._build_auxiliary_head(auxiliary_head)
        if proj_head is not None:
            self.proj_head = builder.build_head(proj_head)
        # ConfigDict allows MMSeg's attribute access (test_cfg.mode) on plain dicts too.
        self.train_cfg = ConfigDict(train_cfg) if train_cfg is not None else None
        self.test_cfg = ConfigDict(test_cfg) if test_cfg is not None else None
        assert self.with_decode_head

    def _init_decode_head(self, decode_head: dict) -> None:
        self.decode_head = builder.build_head(decode_head)
        self.align_corners = self.decode_head.align_corners
        self.num_classes = self.decode_head.num_classes

    @staticmethod
    def _build_auxiliary_head(auxiliary_head):
        if auxiliary_head is None:
            return None
        if isinstance(auxiliary_head, list):
            return torch.nn.ModuleList(builder.build_head(cfg) for cfg in auxiliary_head)
        return builder.build_head(auxiliary_head)

    def extract_feat(self, img: torch.Tensor) -> List[torch.Tensor]:
        """(B, 3, H, W) -> the 4 backbone maps (through the neck if any)."""
        x = self.backbone(img)
        if self.with_neck:
            x = self.neck(x)
        return x

    def encode_decode(self, img: torch.Tensor, img_metas: List[dict]) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, H, W) logits, bilinearly resized to the input size."""
        out = self.decode_head.forward_test(self.extract_feat(img), img_metas, self.test_cfg)
        return resize(out, size=img.shape[2:], mode='bilinear', align_corners=self.align_corners)

    def generate_pseudo_label(self, img: torch.Tensor, img_metas: List[dict]) -> torch.Tensor:
        """Teacher logits for pseudo-labels: the same as `encode_decode`."""
        return self.encode_decode(img, img_metas)

    def encode_decode_scales(self, img: torch.Tensor,
                             img_metas: List[dict]) -> Dict[str, Optional[torch.Tensor]]:
        """dict(fused=logits at the input size, lr=None, hr=None, lr_feat=decoder features) for a
        single-scale model."""
        feat = self.decode_head.forward_features(self.extract_feat(img))
        fused = resize(self.decode_head.cls_seg(feat), size=img.shape[2:], mode='bilinear',
                       align_corners=self.align_corners)
        return dict(fused=fused, lr=None, hr=None, lr_feat=feat)

    def forward_train(self, img: torch.Tensor, img_metas: List[dict],
                      gt_semantic_seg: torch.Tensor, seg_weight: Optional[torch.Tensor] = None,
                      return_feat: bool = False, return_logits: bool = False,
                      return_decoder_feat: bool = False) -> Dict[str, object]:
        """Losses `decode.loss_seg`, `decode.acc_seg` (+ `aux.*`).

        Args:
            img: (B, 3, H, W); gt_semantic_seg: (B, 1, H, W); seg_weight: (B, H, W).
            return_feat: add `features`, the backbone maps.
            return_logits: add `decode.logits`.
            return_decoder_feat: add `decoder_feat`, dict(lr=decoder features, lr_logits, hr=None,
                hr_logits=None, hr_box=None, lr_scale=1.0, os=output stride), the input of
                PCPR's prototypes (docs/method/pcpr.md).
        """
        x = self.extract_feat(img)
        losses = dict()
        if return_feat:
            losses['features'] = x
        decode = self.decode_head.forward_train(x, img_metas, gt_semantic_seg, self.train_cfg,
                                                seg_weight, return_logits,
                                                return_decoder_feat=return_decoder_feat)
        if return_decoder_feat:
            feat = decode.pop('decoder_feat')
            losses['decoder_feat'] = dict(feat, hr_box=None, lr_scale=1.0,
                                          os=img.shape[-1] // feat['lr'].shape[-1])
        losses.update(add_prefix(decode, 'decode'))
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, img_metas, gt_semantic_seg,
                                                             seg_weight))
        return losses

    def _auxiliary_head_forward_train(self, x, img_metas, gt_semantic_seg, seg_weight):
        heads = self.auxiliary_head if isinstance(self.auxiliary_head, torch.nn.ModuleList) \
            else [self.auxiliary_head]
        losses = dict()
        for idx, head in enumerate(heads):
            prefix = 'aux' if len(heads) == 1 else f'aux_{idx}'
            losses.update(add_prefix(
                head.forward_train(x, img_metas, gt_semantic_seg, self.train_cfg, seg_weight),
                prefix))
        return losses

    def forward_dummy(self, img: torch.Tensor) -> torch.Tensor:
        return self.encode_decode(img, None)

    def slide_inference(self, img: torch.Tensor, img_meta: List[dict],
                        rescale: bool) -> torch.Tensor:
        """Average the logits of overlapping `test_cfg.crop_size` windows.

        With `test_cfg.batched_slide` all windows of the batch go through `encode_decode` as
        one batch (window-major); the result is identical to the window-by-window loop.
        """
        batch_size, _, h_img, w_img = img.shape
        windows = slide_windows(h_img, w_img, self.test_cfg.crop_size, self.test_cfg.stride)
        preds = img.new_zeros((batch_size, self.num_classes, h_img, w_img))
        count = img.new_zeros((batch_size, 1, h_img, w_img))
        if self.test_cfg.get('batched_slide', False):
            crops = torch.cat([img[:, :, y1:y2, x1:x2] for y1, y2, x1, x2 in windows], dim=0)
            logits = self.encode_decode(crops, img_meta).split(batch_size, dim=0)
        else:
            logits = [self.encode_decode(img[:, :, y1:y2, x1:x2], img_meta)
                      for y1, y2, x1, x2 in windows]
        assert windows_cover(windows, h_img, w_img), 'slide windows do not cover the image'
        for (y1, y2, x1, x2), logit in zip(windows, logits):
            preds[:, :, y1:y2, x1:x2] += logit
            count[:, :, y1:y2, x1:x2] += 1
        preds = preds / count
        if rescale:
            preds = resize(preds, size=img_meta[0]['ori_shape'][:2], mode='bilinear',
                           align_corners=self.align_corners, warning=False)
        return preds

    def whole_inference(self, img: torch.Tensor, img_meta: List[dict],
                        rescale: bool) -> torch.Tensor:
        seg_logit = self.encode_decode(img, img_meta)
        if rescale:
            seg_logit = resize(seg_logit, size=img_meta[0]['ori_shape'][:2], mode='bilinear',
                               align_corners=self.align_corners, warning=False)
        return seg_logit

    def _outputs_attention(self) -> bool:
        """`--hrda-out ATT`: the head returns an attention map, not logits."""
        return bool(getattr(self.decode_head, 'debug_output_attention', False))

    def inference(self, img: torch.Tensor, img_meta: List[dict], rescale: bool) -> torch.Tensor:
        """(B, C, H, W) softmax probabilities at `ori_shape` (if rescale), un-flipped."""
        assert self.test_cfg.mode in ['slide', 'whole']
        ori_shape = img_meta[0]['ori_shape']
        assert all(m['ori_shape'] == ori_shape for m in img_meta)
        if self.test_cfg.mode == 'slide':
            seg_logit = self.slide_inference(img, img_meta, rescale)
        else:
            seg_logit = self.whole_inference(img, img_meta, rescale)
        output = seg_logit if self._outputs_attention() else F.softmax(seg_logit, dim=1)
        if img_meta[0].get('flip', False):
            direction = img_meta[0]['flip_direction']
            assert direction in ['horizontal', 'vertical']
            output = output.flip(dims=(3, ) if direction == 'horizontal' else (2, ))
        return output

    def simple_test(self, img: torch.Tensor, img_meta: List[dict], rescale: bool = True) -> list:
        """List of (H, W) numpy predictions (argmax, or the attention map under ATT)."""
        seg_logit = self.inference(img, img_meta, rescale)
        seg_pred = seg_logit[:, 0] if self._outputs_attention() else seg_logit.argmax(dim=1)
        return list(seg_pred.cpu().numpy())

    def aug_test(self, imgs: List[torch.Tensor], img_metas: List[List[dict]],
                 rescale: bool = True) -> list:
        """Argmax of the softmax probabilities averaged over the augmentations."""
        assert rescale
        seg_logit = self.inference(imgs[0], img_metas[0], rescale)
        for img, meta in zip(imgs[1:], img_metas[1:]):
            seg_logit = seg_logit + self.inference(img, meta, rescale)
        seg_logit = seg_logit / len(imgs)
        return list(seg_logit.argmax(dim=1).cpu().numpy())
