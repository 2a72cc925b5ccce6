# Self-training with a mean teacher and ClassMix (DACS), with every switch that DAFormer,
# HRDA and MIC add. The values here are plain DACS; the variants below override them.
uda = dict(
    type='DACS',
    # True: supervised source training only (no teacher, no mixing); see dacs_srconly.py.
    source_only=False,
    # EMA teacher momentum (the warm-up min(1 - 1/(t+1), alpha) is built in).
    alpha=0.99,
    # Pseudo-label confidence threshold; the pseudo weight is the fraction of target
    # pixels above it (one scalar per batch).
    pseudo_threshold=0.968,
    # Rows zeroed in the pseudo weight (DAFormer's crop of the rectification border);
    # HRDA/MIC use data.train.target.crop_pseudo_margins instead. Never both.
    pseudo_weight_ignore_top=0,
    pseudo_weight_ignore_bottom=0,
    # ImageNet feature distance (off here; see dacs_a999_fdthings.py).
    imnet_feature_dist_lambda=0,
    imnet_feature_dist_classes=None,
    imnet_feature_dist_scale_min_ratio=None,
    mix='class',
    blur=True,
    color_jitter_strength=0.2,
    # Quirk kept from DACS: jitter is applied when a uniform draw EXCEEDS this value,
    # i.e. with probability 0.8, not 0.2.
    color_jitter_probability=0.2,
    # Masked image consistency (MIC); off until a config sets mask_mode.
    mask_mode=None,
    mask_alpha='same',
    mask_pseudo_threshold='same',
    mask_lambda=0,
    mask_generator=None,
    # Unused by the step itself: the debug image interval comes from
    # log_config.img_interval. Kept because MIC configs carry it.
    debug_img_interval=1000,
    print_grad_magnitude=False,
)
# Wrap the student/teacher/ImageNet models separately in distributed runs (MIC's key).
use_ddp_wrapper = True
