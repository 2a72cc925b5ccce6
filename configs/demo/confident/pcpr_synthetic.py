# PCPR on the confident-teacher variant: its MIC(HRDA) (mic_synthetic.py) plus PLF and FPC with
# the method's defaults, the prototypes starting after the 48-iteration warm-up (as on the
# pretrained benchmark, ../pretrained/pcpr_synthetic.py) and sized for the thin decoder.
_base_ = ['mic_synthetic.py']
uda = dict(type='PCPR', plf=dict(), fpc=dict(proj_dim=64, proto_start_iter=48))
name = 'synthetic_confident_pcpr'
