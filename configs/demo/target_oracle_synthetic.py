# Target oracle: the same segmentor and schedule, supervised on the labelled target train
# split (an upper bound that no UDA method can use).
_base_ = ['_base_/tiny_hrda.py', '_base_/target_oracle_data.py', '_base_/schedule.py']
optimizer_config = dict()
seed = 0
name = 'synthetic_target_oracle'
