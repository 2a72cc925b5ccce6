"""Shared pieces of the DeepLabV2 tests."""
import hashlib

# DeepLabV2's backbone arguments (configs/_base_/models/deeplabv2_r50-d8.py).
DEEPLAB = dict(dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), contract_dilation=True)
# A narrow ResNet for fast tests: same layout (every stage's block 0 changes the channel count,
# so it has a `downsample` shortcut, as in the full-width nets), ~1/256 of the weights.
NARROW = dict(stem_channels=8, base_channels=4)


def key_shape_digest(state_dict) -> str:
    """First 16 hex digits of sha256 over 'key:shape' lines, in state-dict order."""
    text = '\n'.join(f'{k}:{tuple(v.shape)}' for k, v in state_dict.items())
    return hashlib.sha256(text.encode()).hexdigest()[:16]
