# PCPR variant: the prototypes feed the filter (soft agreement with the nearest class
# prototype, m_proto, as one more reliability term).
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(plf=dict(proto_agreement='soft'))
name = 'synthetic_pretrained_pcpr_proto'
