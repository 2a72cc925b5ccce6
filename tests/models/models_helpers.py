"""Model configs for the tests: MIC's DAFormer/HRDA configs with a MiT-B0 (or a thin head), and
the DeepLabV2 pieces (narrow ResNet arguments, key/shape digest, a random UDA batch)."""
import copy
import hashlib

MIT_B0_CHANNELS = [32, 64, 160, 256]
MIT_B5_CHANNELS = [64, 128, 320, 512]
NORM_CFG = dict(type='BN', requires_grad=True)


def daformer_head(in_channels=MIT_B0_CHANNELS, channels=256, fusion='sepaspp', num_classes=19):
    """DAFormerHead cfg as `_base_/models/daformer_{conv1,sepaspp}_mitb5.py` (any channels)."""
    fusion_cfg = dict(
        sepaspp=dict(type='aspp', sep=True, dilations=(1, 6, 12, 18), pool=False,
                     act_cfg=dict(type='ReLU'), norm_cfg=NORM_CFG),
        aspp=dict(type='aspp', sep=False, dilations=(1, 6, 12, 18), pool=True,
                  act_cfg=dict(type='ReLU'), norm_cfg=NORM_CFG),
        conv1=dict(type='conv', kernel_size=1, act_cfg=dict(type='ReLU'), norm_cfg=NORM_CFG),
    )[fusion]
    return dict(
        type='DAFormerHead', in_channels=list(in_channels), in_index=[0, 1, 2, 3],
        channels=channels, dropout_ratio=0.1, num_classes=num_classes, norm_cfg=NORM_CFG,
        align_corners=False,
        decoder_params=dict(
            embed_dims=channels, embed_cfg=dict(type='mlp', act_cfg=None, norm_cfg=None),
            embed_neck_cfg=dict(type='mlp', act_cfg=None, norm_cfg=None), fusion_cfg=fusion_cfg),
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))


# Tiny random timm ViTs of the three foundation-model families (name, patch size, extra kwargs):
# DINOv2 (VisionTransformer, p = 14), DINOv3 (Eva with RoPE, p = 16), EVA02 (Eva, p = 14).
TINY_VITS = {
    'dinov2': ('vit_small_patch14_dinov2', 14, dict(img_size=56)),
    'dinov3': ('vit_small_patch16_dinov3', 16, dict()),
    'eva02': ('eva02_small_patch14_224', 14, dict(img_size=56)),
}
TINY_VIT_DIM = 32


def tiny_timm_vit(family='dinov2', model_kwargs=None, **kwargs):
    """TimmViT backbone cfg of a 4-block, 32-dim, 2-head model of `family` (TINY_VITS);
    `model_kwargs` override those."""
    name, _, family_kwargs = TINY_VITS[family]
    model_kwargs = dict(dict(embed_dim=TINY_VIT_DIM, depth=4, num_heads=2, **family_kwargs),
                        **(model_kwargs or {}))
    return dict(type='TimmViT', model_name=name, model_kwargs=model_kwargs, **kwargs)


def _backbone_cfg(backbone):
    """A registered backbone name (MiT, ResNet) as MIC's cfg; a cfg dict as it is."""
    return backbone if isinstance(backbone, dict) else dict(type=backbone, style='pytorch')


def encoder_decoder(backbone='mit_b0', in_channels=MIT_B0_CHANNELS, channels=32,
                    fusion='sepaspp', test_cfg=None, num_classes=19):
    """EncoderDecoder cfg; `backbone` is a registered name or a backbone cfg."""
    return dict(type='EncoderDecoder', pretrained=None,
                backbone=_backbone_cfg(backbone),
                decode_head=daformer_head(in_channels, channels, fusion, num_classes),
                train_cfg=dict(), test_cfg=test_cfg or dict(mode='whole'))


def hrda(backbone='mit_b0', in_channels=MIT_B0_CHANNELS, channels=32, hr_crop_size=(64, 64),
         test_cfg=None, num_classes=19, **kwargs):
    """MIC's HRDA wrapper (gtaHR2csHR_mic_hrda.py) around a DAFormer sepaspp head; `backbone` is
    a registered name or a backbone cfg."""
    head = daformer_head(in_channels, channels, 'sepaspp', num_classes)
    head.update(type='HRDAHead', single_scale_head='DAFormerHead', attention_classwise=True,
                hr_loss_weight=0.1, attention_embed_dim=channels)
    cfg = dict(type='HRDAEncoderDecoder', pretrained=None,
               backbone=_backbone_cfg(backbone), decode_head=head,
               train_cfg=dict(), scales=[1, 0.5], hr_crop_size=list(hr_crop_size),
               feature_scale=0.5, crop_coord_divisible=8, hr_slide_inference=True,
               test_cfg=test_cfg or dict(mode='whole'))
    cfg.update(kwargs)
    return copy.deepcopy(cfg)


def metas(n, size, flip=False):
    """`n` image metas of `size` x `size` test images (as the test pipeline makes them)."""
    return [dict(ori_shape=(size, size, 3), img_shape=(size, size, 3), pad_shape=(size, size, 3),
                 flip=flip, flip_direction='horizontal') for _ in range(n)]


# DeepLabV2 ------------------------------------------------------------------------------------
# DeepLabV2's backbone arguments (configs/_base_/models/deeplabv2_r50-d8.py).
DEEPLAB = dict(dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), contract_dilation=True)
# A narrow ResNet for fast tests: same layout (every stage's block 0 changes the channel count,
# so it has a `downsample` shortcut, as in the full-width nets), ~1/256 of the weights.
NARROW = dict(stem_channels=8, base_channels=4)


def key_shape_digest(state_dict) -> str:
    """First 16 hex digits of sha256 over 'key:shape' lines, in state-dict order."""
    text = '\n'.join(f'{k}:{tuple(v.shape)}' for k, v in state_dict.items())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def uda_batch(size: int, batch_size: int = 2, valid_pseudo_mask: bool = True) -> dict:
    """A random UDA batch (source image + labels, target image) of `size` px images; the left
    half of each source label is one thing class (car), so the feature distance is active."""
    import torch
    g = torch.Generator().manual_seed(0)
    meta = dict(img_norm_cfg=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                                  to_rgb=True),
                img_shape=(size, size, 3), ori_shape=(size, size, 3), pad_shape=(size, size, 3),
                flip=False, scale_factor=1.0)
    gt = torch.randint(0, 19, (batch_size, 1, size, size), generator=g)
    gt[:, :, :, :size // 2] = 13
    batch = dict(img=torch.randn(batch_size, 3, size, size, generator=g),
                 img_metas=[dict(meta) for _ in range(batch_size)], gt_semantic_seg=gt,
                 target_img=torch.randn(batch_size, 3, size, size, generator=g),
                 target_img_metas=[dict(meta) for _ in range(batch_size)])
    if valid_pseudo_mask:
        batch['valid_pseudo_mask'] = torch.ones(batch_size, 1, size, size, dtype=torch.uint8)
    return batch
