# PCPR variant (second wave): the mixed pass's detail crop where the teacher is least certain.
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(hr_crop_policy='entropy')
name = 'synthetic_pretrained_pcpr_entropy_crop'
