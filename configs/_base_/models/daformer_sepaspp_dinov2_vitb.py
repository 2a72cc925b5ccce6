# daformer_sepaspp_dinov2_vitl.py with DINOv2 ViT-B/14 (12 blocks, 768 channels).

_base_ = ['daformer_sepaspp_dinov2_vitl.py']

model = dict(
    # The official DINOv2 ViT-B/14 checkpoint.
    pretrained='pretrained/dinov2_vitb14_pretrain.pth',
    backbone=dict(
        model_name='vit_base_patch14_dinov2',
        # The ends of ViT-Adapter's four interaction groups for a 12-block ViT.
        out_indices=[2, 5, 8, 11],
        pyramid=dict(out_channels=768)),
    decode_head=dict(in_channels=[768, 768, 768, 768]))
