# Target oracle of the pretrained benchmark: the same pretrained segmentor and schedule,
# supervised on the labelled target train split (an upper bound no UDA method can use).
_base_ = ['../_base_/tiny_hrda.py', '../_base_/target_oracle_data.py', '_base_/schedule.py']
model = dict(pretrained='pretrained/mit_b0_synthetic.pth')
optimizer_config = dict()
seed = 0
name = 'synthetic_pretrained_target_oracle'
