# PCPR on the synthetic benchmark: the MIC(HRDA) demo config plus PCPR's uda block with the
# method's defaults (configs/_base_/uda/pcpr.py: the filter's two terms off, as in
# configs/pcpr/), except the prototype start (the end of this schedule's 50-iteration warm-up)
# and the projection size (the thin decoder has 64 channels).
import mmcv

_base_ = ['mic_synthetic.py']
uda = mmcv.Config.fromfile('{{ fileDirname }}/../_base_/uda/pcpr.py').uda
uda.fpc.update(proj_dim=64, proto_start_iter=50)
name = 'synthetic_pcpr'
