"""HRDA: a low-resolution context pass and a high-resolution detail pass through one network."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from ...ops import resize
from ..builder import SEGMENTORS
from ..utils.crop_box import Box, crop, get_crop_bbox
from ..utils.dict_prefix import add_prefix
from ..utils.hr_crop_policy import box_from_score
from .encoder_decoder import EncoderDecoder, slide_windows


@SEGMENTORS.register_module()
class HRDAEncoderDecoder(EncoderDecoder):
    """Multi-resolution segmentor of HRDA (Hoyer et al.); the head must be an HRDAHead.

    Training: the LR input is the image resized by scales[0] (0.5, bilinear, no antialias);
    the HR input is one random `hr_crop_size` crop of the full-resolution image, the same box
    for the whole batch. Inference: LR whole image + HR sliding tiles (batched, one backbone
    pass), fused by the head's scale attention.

    Args:
        scales: the two scales, sorted ascending ([1, 0.5] -> [0.5, 1]).
        hr_crop_size: (h, w) of the HR training crop (None: whole HR image).
        hr_slide_inference: tile the HR image at inference with `hr_crop_size` windows.
        hr_slide_overlapping: tile stride = crop // 2 (else = crop).
        crop_coord_divisible: crop offsets are multiples of this (MIC: 8).
        blur_hr_crop: blur the HR image by a 0.5 down-up resize.
        feature_scale: which scale `features` / `extract_feat` use for the ImageNet feature
            distance (MIC: 0.5), or 'all' for every scale.
        **kwargs: EncoderDecoder arguments.
    """

    def __init__(self, backbone: dict, decode_head: dict, scales: Sequence[float] = (1, ),
                 hr_crop_size: Optional[Sequence[int]] = None, hr_slide_inference: bool = True,
                 hr_slide_overlapping: bool = True, crop_coord_divisible: int = 1,
                 blur_hr_crop: bool = False, feature_scale: Union[float, str] = 1, **kwargs):
        if isinstance(feature_scale, str):
            assert feature_scale == 'all', 'feature_scale must be a number or "all"'
        scales = sorted(scales)
        decode_head = dict(decode_head, scales=scales, enable_hr_crop=hr_crop_size is not None,
                           hr_slide_inference=hr_slide_inference)
        super().__init__(backbone=backbone, decode_head=decode_head, **kwargs)
        if self.with_auxiliary_head:
            raise NotImplementedError('HRDAEncoderDecoder does not support auxiliary heads')
        self.scales = scales
        self.feature_scale = feature_scale
        self.crop_size = tuple(hr_crop_size) if hr_crop_size is not None else None
        self.hr_slide_inference = hr_slide_inference
        self.hr_slide_overlapping = hr_slide_overlapping
        self.crop_coord_divisible = crop_coord_divisible
        self.blur_hr_crop = blur_hr_crop
        # Box of the last training crop, for feature_scale='all' (per instance; a model
        # extracting features for another one's crop gets the box as `extract_feat` argument).
        self.last_train_crop_box: Optional[Box] = None
        # (policy, (H, W) score map) for the next training crop only, set by the UDA step
        # (PCPR's `hr_crop_policy`); None = HRDA's uniform draw.
        self.next_crop_score: Optional[Tuple[str, torch.Tensor]] = None

    def set_next_crop_score(self, policy: str, score: torch.Tensor) -> None:
        """Choose the next training pass's detail crop from `score` (see `hr_crop_policy`)."""
        self.next_crop_score = (policy, score)

    def _rescale(self, img: torch.Tensor, scale: float) -> torch.Tensor:
        """Bilinear resize by `scale` (no antialias), without gradient; identity for 1."""
        if scale == 1:
            return img
        with torch.no_grad():
            return resize(img, scale_factor=scale, mode='bilinear',
                          align_corners=self.align_corners)

    def _scaled_image(self, img: torch.Tensor, scale: float) -> torch.Tensor:
        """The network input of one scale (the HR one optionally blurred by a down-up resize)."""
        if scale == 1 and self.blur_hr_crop:
            return self._rescale(self._rescale(img, 0.5), 2)
        return self._rescale(img, scale)

    def extract_unscaled_feat(self, img: torch.Tensor) -> List[torch.Tensor]:
        x = self.backbone(img)
        if self.with_neck:
            x = self.neck(x)
        return x

    def extract_slide_feat(self, img: torch.Tensor) -> Dict[str, object]:
        """Backbone maps of all HR tiles of the batch in one pass.

        Returns dict(features=maps of (n_tiles * B, ...) tile-major, boxes=[(y1, y2, x1, x2)]).
        """
        assert self.crop_size is not None, 'hr_slide_inference needs hr_crop_size (the tile size)'
        stride = tuple(c // 2 for c in self.crop_size) if self.hr_slide_overlapping \
            else self.crop_size
        boxes = slide_windows(img.shape[2], img.shape[3], self.crop_size, stride)
        tiles = torch.cat([crop(img, box) for box in boxes], dim=0)
        return dict(features=self.extract_unscaled_feat(tiles), boxes=boxes)

    def extract_feat(self, img: torch.Tensor, hr_crop_box: Optional[Box] = None):
        """Backbone maps of `img` at `feature_scale` (what the ImageNet feature distance uses).

        For feature_scale='all': a list over scales, the HR scale cropped to `hr_crop_box`
        (default: this instance's last training crop).
        """
        if self.feature_scale != 'all':
            return self.extract_unscaled_feat(self._rescale(img, self.feature_scale))
        hr_crop_box = hr_crop_box if hr_crop_box is not None else self.last_train_crop_box
        feats = []
        for i, scale in enumerate(self.scales):
            scaled = self._scaled_image(img, scale)
            if self.crop_size is not None and i >= 1:
                assert hr_crop_box is not None, 'feature_scale="all" needs the HR crop box'
                scaled = crop(scaled, hr_crop_box)
            feats.append(self.extract_unscaled_feat(scaled))
        return feats

    def _inference_inputs(self, img: torch.Tensor) -> list:
        """Per-scale head inputs: LR maps of the whole image, HR slide tiles (or whole maps)."""
        inputs = []
        for i, scale in enumerate(self.scales):
            scaled = self._scaled_image(img, scale)
            if i >= 1 and self.hr_slide_inference:
                inputs.append(self.extract_slide_feat(scaled))
            else:
                inputs.append(self.extract_unscaled_feat(scaled))
        return inputs

    def encode_decode(self, img: torch.Tensor, img_metas: List[dict]) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, H, W) fused logits (no crop mask at inference)."""
        out = self.decode_head.forward_test(self._inference_inputs(img), img_metas,
                                            self.test_cfg)
        return resize(out, size=img.shape[2:], mode='bilinear', align_corners=self.align_corners)

    def encode_decode_scales(self, img: torch.Tensor,
                             img_metas: List[dict]) -> Dict[str, Optional[torch.Tensor]]:
        """dict(fused, lr=raw LR logits, hr=slide-assembled HR logits), all at the input size,
        and lr_feat=the LR decoder features at their own size (for PCPR's prototypes)."""
        out = self.decode_head.forward_scales(self._inference_inputs(img))
        scales = {
            name: resize(out[key], size=img.shape[2:], mode='bilinear',
                         align_corners=self.align_corners)
            for name, key in (('fused', 'fused'), ('lr', 'lr_raw'), ('hr', 'hr'))
        }
        return dict(scales, lr_feat=out['lr_feat'])

    def sample_hr_crop_box(self, img_h: int, img_w: int) -> Box:
        """The HR detail crop of one training batch (HRDA: uniform, offsets divisible), or the
        box the score map given by `set_next_crop_score` selects (it is used once)."""
        hint, self.next_crop_score = self.next_crop_score, None
        if hint is not None:
            policy, score = hint
            if tuple(score.shape) != (img_h, img_w):
                raise ValueError(f'crop score map {tuple(score.shape)} != HR image '
                                 f'{(img_h, img_w)}')
            box = box_from_score(policy, score, self.crop_size, self.crop_coord_divisible)
            if box is not None:
                return box
        return get_crop_bbox(img_h, img_w, self.crop_size, self.crop_coord_divisible)

    def _forward_train_features(self, img: torch.Tensor):
        """Per-scale backbone maps of a training batch and the HR crop box (or None)."""
        assert len(self.scales) <= 2, 'Only up to 2 scales are supported.'
        feats, crop_box = [], None
        for i, scale in enumerate(self.scales):
            scaled = self._scaled_image(img, scale)
            if self.crop_size is not None and i >= 1:
                crop_box = self.sample_hr_crop_box(*scaled.shape[-2:])
                scaled = crop(scaled, crop_box)
            feats.append(self.extract_unscaled_feat(scaled))
        return feats, crop_box

    def forward_train(self, img: torch.Tensor, img_metas: List[dict],
                      gt_semantic_seg: torch.Tensor, seg_weight: Optional[torch.Tensor] = None,
                      return_feat: bool = False, return_logits: bool = False,
                      return_decoder_feat: bool = False) -> Dict[str, object]:
        """Losses `decode.loss_seg`, `decode.acc_seg`, `decode.hr.loss_seg`, `decode.hr.acc_seg`.

        `features` (return_feat): the maps of scale `feature_scale` (LR for MIC), or a list
        over scales for 'all'. `decoder_feat` (return_decoder_feat, for PCPR's prototypes): the
        head's dict(lr, lr_logits, hr, hr_logits) plus `hr_box` (the detail crop), `lr_scale` and
        `os` (the head's output stride).
        """
        feats, crop_box = self._forward_train_features(img)
        self.last_train_crop_box = crop_box
        losses = dict()
        if return_feat:
            if self.feature_scale == 'all':
                losses['features'] = feats
            elif self.feature_scale in self.scales:
                losses['features'] = feats[self.scales.index(self.feature_scale)]
        decode = self.decode_head.forward_train(
            feats, img_metas, gt_semantic_seg, self.train_cfg, seg_weight, return_logits,
            return_decoder_feat=return_decoder_feat, hr_crop_box=crop_box)
        if return_decoder_feat:
            losses['decoder_feat'] = dict(decode.pop('decoder_feat'), hr_box=crop_box,
                                          lr_scale=self.scales[0], os=self.decode_head.os)
        losses.update(add_prefix(decode, 'decode'))
        return losses
