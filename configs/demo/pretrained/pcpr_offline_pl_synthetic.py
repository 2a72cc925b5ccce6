# PCPR variant (second wave): offline target pseudo-labels as one more filter (m_pl). The maps
# are MIC(HRDA) seed 0's EMA teacher on the target train images, written by
#   python -m tools.infer configs/demo/pretrained/mic_synthetic.py \
#       work_dirs/benchmark_synthetic_pretrained/runs/mic_seed0/latest.pth \
#       data/demo/cityscapes/leftImg8bit/train --out data/demo/cityscapes/pl_mic_seed0 \
#       --which ema_model
# (a first round of self-training whose result filters the second, as offline PL methods do).
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(plf=dict(use_offline_pl=True))
data = dict(train=dict(target=dict(pl_dir='pl_mic_seed0', pl_suffix='_leftImg8bit_pred.png')))
name = 'synthetic_pretrained_pcpr_offline_pl'
