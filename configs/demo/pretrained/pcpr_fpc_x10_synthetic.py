# PCPR variant: FPC's loss weights x10 (lambda_cont 0.1, lambda_cons 0.01), so that the
# prototype losses are a real share of the gradient (at the defaults L_cont is ~5 % of it).
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(fpc=dict(lambda_cont=0.1, lambda_cons=0.01))
name = 'synthetic_pretrained_pcpr_fpc_x10'
