# DAFormer with context-aware fusion: depthwise-separable ASPP (dilations 1/6/12/18,
# no image pooling) over the concatenated multi-level embeddings. This is the decoder
# of DAFormer, HRDA, MIC and PCPR.

_base_ = ['daformer_conv1_mitb5.py']

norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    decode_head=dict(
        decoder_params=dict(
            fusion_cfg=dict(
                # Replace the conv fusion of the base file instead of merging into it
                # (its `kernel_size` is not an ASPP argument).
                _delete_=True,
                type='aspp',
                sep=True,
                dilations=(1, 6, 12, 18),
                pool=False,
                act_cfg=dict(type='ReLU'),
                norm_cfg=norm_cfg))))
