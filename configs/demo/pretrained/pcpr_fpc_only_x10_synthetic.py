# PCPR variant: FPC only (no filter) with the prototype losses' weights x10 (lambda_cont 0.1,
# lambda_cons 0.01): does a stronger prototype signal add to the gain of FPC only?
_base_ = ['pcpr_fpc_only_synthetic.py']
uda = dict(fpc=dict(lambda_cont=0.1, lambda_cons=0.01))
name = 'synthetic_pretrained_pcpr_fpc_only_x10'
