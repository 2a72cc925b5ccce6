# PCPR variant (second wave): HRDA's detail crop centred on a small thing-class pixel.
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(hr_crop_policy='things')
name = 'synthetic_pretrained_pcpr_things_crop'
