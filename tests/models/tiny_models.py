"""Model configs for the tests: MIC's DAFormer/HRDA configs with a MiT-B0 (or a thin head)."""
import copy

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


def encoder_decoder(backbone='mit_b0', in_channels=MIT_B0_CHANNELS, channels=32,
                    fusion='sepaspp', test_cfg=None, num_classes=19):
    return dict(type='EncoderDecoder', pretrained=None,
                backbone=dict(type=backbone, style='pytorch'),
                decode_head=daformer_head(in_channels, channels, fusion, num_classes),
                train_cfg=dict(), test_cfg=test_cfg or dict(mode='whole'))


def hrda(backbone='mit_b0', in_channels=MIT_B0_CHANNELS, channels=32, hr_crop_size=(64, 64),
         test_cfg=None, num_classes=19, **kwargs):
    """MIC's HRDA wrapper (gtaHR2csHR_mic_hrda.py) around a DAFormer sepaspp head."""
    head = daformer_head(in_channels, channels, 'sepaspp', num_classes)
    head.update(type='HRDAHead', single_scale_head='DAFormerHead', attention_classwise=True,
                hr_loss_weight=0.1, attention_embed_dim=channels)
    cfg = dict(type='HRDAEncoderDecoder', pretrained=None,
               backbone=dict(type=backbone, style='pytorch'), decode_head=head,
               train_cfg=dict(), scales=[1, 0.5], hr_crop_size=list(hr_crop_size),
               feature_scale=0.5, crop_coord_divisible=8, hr_slide_inference=True,
               test_cfg=test_cfg or dict(mode='whole'))
    cfg.update(kwargs)
    return copy.deepcopy(cfg)
