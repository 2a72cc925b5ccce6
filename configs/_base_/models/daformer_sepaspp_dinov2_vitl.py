# DAFormer decoder (separable-ASPP fusion, as daformer_sepaspp_mitb5.py) on a vision foundation
# model: DINOv2 ViT-L/14 (timm's `vit_large_patch14_dinov2`, 24 blocks, 1024 channels) whose
# tokens a ViT-Adapter turns into the 4 maps at strides 4/8/16/32 that DAFormer expects.
# The backbone resizes its input to a multiple of the patch size (14) internally, so HRDA's
# 1024/512 crops stay as in MIC. configs/vfm/ put this backbone into MIC's HRDA segmentor.

_base_ = ['daformer_sepaspp_mitb5.py']

model = dict(
    # The official DINOv2 ViT-L/14 checkpoint (docs/models.md: where to get it, licence);
    # copied to backbone.pretrained on build, loaded by the backbone's init_weights.
    pretrained='pretrained/dinov2_vitl14_pretrain.pth',
    backbone=dict(
        # Replace the base file's MiT-B5 (its `style` is no TimmViT key).
        _delete_=True,
        type='TimmViT',
        # timm's architecture name; the weights come from `pretrained`.
        model_name='vit_large_patch14_dinov2',
        # The blocks whose tokens feed the pyramid: the ends of ViT-Adapter's four
        # interaction groups for a 24-block ViT.
        out_indices=[5, 11, 17, 23],
        # ViT-Adapter (spatial prior + injector/extractor interactions) as in VFM-UDA++;
        # 1024 = the ViT's width at every level. dict(type='SimpleFeaturePyramid',
        # out_channels=256) is the lighter ViTDet pyramid (set decode_head.in_channels to
        # [256] * 4 with it).
        pyramid=dict(type='ViTAdapter', out_channels=1024),
        # Train the whole ViT ('all' freezes it, an int k its first k blocks).
        freeze='none',
        # Stochastic depth: 0.1 as MiT-B5 in MIC.
        drop_path_rate=0.1,
        # Activation checkpointing in the ViT blocks: less memory, ~30 % slower steps.
        grad_checkpointing=False),
    # DAFormer's embedding layers take the pyramid's 4 maps of 1024 channels.
    decode_head=dict(in_channels=[1024, 1024, 1024, 1024]))
