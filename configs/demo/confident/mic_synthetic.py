# MIC(HRDA) on a first candidate for a confident-teacher variant of the synthetic benchmark: the
# pretrained benchmark's MIC (../pretrained/mic_synthetic.py) on a milder shift (data generated
# with `tools/synthetic/benchmark.py --shift-strength 0.3`) and twice the schedule, so that late
# in training the teacher is more often right and confident, as a ~75-mIoU teacher is on real
# data. Measured, it is not usable yet: source only beats MIC(HRDA) on it
# (docs/results/synthetic_benchmark.md, "The self-training regime").
_base_ = ['../pretrained/mic_synthetic.py']
# Twice the pretrained benchmark's 600 iterations; warm-up and teacher momentum scaled with it.
runner = dict(max_iters=1200)
lr_config = dict(warmup_iters=48)
checkpoint_config = dict(interval=1200)
evaluation = dict(interval=1200)
log_config = dict(img_interval=1200)
# A benchmark-level pseudo threshold: 0.8 puts about 60 % of the target pixels above it late in
# training (MIC's 0.968: about 43 %); the real configs keep 0.968.
uda = dict(alpha=0.995, pseudo_threshold=0.8)
name = 'synthetic_confident_mic_hrda'
