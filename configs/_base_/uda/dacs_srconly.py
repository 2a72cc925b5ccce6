# Source-only baseline inside the UDA loop: same data, model and schedule, but no
# teacher and no target loss (MIC also uses it for supervised training with MIC masking).
_base_ = ['dacs.py']
uda = dict(source_only=True)
