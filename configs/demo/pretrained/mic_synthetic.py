# MIC(HRDA) on the pretrained synthetic benchmark (issue 12): the demo's MiT-B0 HRDA segmentor
# starts from the ImageNet stand-in (tools/synthetic/pretrain.py: MiT-B0 pretrained on a third
# synthetic look), and DAFormer/MIC's ImageNet feature distance is on, with that stand-in as the
# frozen `imnet_model`. Other UDA settings: the demo's (alpha 0.99, 16 px MIC blocks).
_base_ = ['../_base_/tiny_hrda.py', '../_base_/synthetic_data.py', '../_base_/mic_uda.py',
          '_base_/schedule.py']
model = dict(pretrained='pretrained/mit_b0_synthetic.pth')
uda = dict(
    imnet_feature_dist_lambda=0.005,
    # traffic light, traffic sign, person, rider, car, truck, bus, train, motorcycle, bicycle
    imnet_feature_dist_classes=[6, 7, 11, 12, 13, 14, 15, 16, 17, 18],
    imnet_feature_dist_scale_min_ratio=0.75)
seed = 0
name = 'synthetic_pretrained_mic_hrda'
# The UDA step calls backward and the optimizer itself (as MIC): no optimizer hook.
optimizer_config = None
