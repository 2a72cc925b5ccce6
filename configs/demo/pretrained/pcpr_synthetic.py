# PCPR on the pretrained synthetic benchmark: MIC(HRDA) plus PLF and FPC with the method's
# defaults (the filter's two terms off, so it only logs the pseudo-label statistics), except
# the prototype start (after the 24-iteration warm-up, as PCPR starts after MIC's: the
# prototype losses act for 576 of 600 iterations) and the projection size (the thin decoder
# has 64 channels).
_base_ = ['mic_synthetic.py']
uda = dict(type='PCPR', plf=dict(), fpc=dict(proj_dim=64, proto_start_iter=24))
name = 'synthetic_pretrained_pcpr'
