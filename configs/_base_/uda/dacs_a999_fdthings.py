# DAFormer's self-training: a slower teacher (alpha 0.999) and the ImageNet feature
# distance restricted to "thing" classes, whose features ImageNet pre-training knows best.
_base_ = ['dacs.py']
uda = dict(
    alpha=0.999,
    imnet_feature_dist_lambda=0.005,
    # traffic light, traffic sign, person, rider, car, truck, bus, train, motorcycle,
    # bicycle (Cityscapes train ids)
    imnet_feature_dist_classes=[6, 7, 11, 12, 13, 14, 15, 16, 17, 18],
    # A feature cell counts as a class only if that class covers >= 75% of its pixels.
    imnet_feature_dist_scale_min_ratio=0.75,
)
