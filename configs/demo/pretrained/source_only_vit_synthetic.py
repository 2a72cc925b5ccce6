# Source-only baseline of the ViT benchmark: mic_vit_synthetic.py's segmentor, schedule and
# feature distance, trained on the source only.
_base_ = ['mic_vit_synthetic.py']
uda = dict(source_only=True, mask_mode=None, mask_lambda=0, mask_generator=None)
name = 'synthetic_pretrained_source_only_vit'
