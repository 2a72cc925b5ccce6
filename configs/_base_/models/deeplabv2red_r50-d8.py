# DeepLabV2 as the earlier UDA works (AdaptSegNet and its successors) actually trained it:
# their classifier returns inside the loop over the rates, so only rates 6 and 12 are used.
# MIC/DAFormer's DeepLabV2 comparisons use this "reduced" head.
_base_ = ['deeplabv2_r50-d8.py']
model = dict(decode_head=dict(dilations=(6, 12)))
