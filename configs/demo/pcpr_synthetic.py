# PCPR on the synthetic benchmark: the MIC(HRDA) demo config plus PLF and FPC with the
# method's defaults (the filter's two terms off, as in configs/pcpr/), except the prototype
# start (the end of this schedule's 50-iteration warm-up) and the projection size (the thin
# decoder has 64 channels).
_base_ = ['mic_synthetic.py']
uda = dict(
    type='PCPR',
    plf=dict(use_consistency=False, consistency_mode='hard', inconsistent_weight=0.0,
             use_edge=False, edge_radius=3, edge_gamma=1.0, edge_stride=4, drop_below=0.0,
             plf_on_masked=True),
    fpc=dict(proj_dim=64, proto_scale='lr', label_min_ratio=0.75, reliable_weight=0.5,
             max_samples=1024, max_views=100, min_views=10, num_prototypes=10,
             sinkhorn_iters=3, sinkhorn_epsilon=0.05, proto_momentum=0.999, temperature=0.1,
             lambda_cont=0.01, lambda_cons=0.001, proto_start_iter=50, proto_rampup_iters=0))
name = 'synthetic_pcpr'
