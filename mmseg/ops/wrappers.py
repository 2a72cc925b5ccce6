import warnings

import torch.nn.functional as F


def resize(input, size=None, scale_factor=None, mode='nearest', align_corners=None,
           warning=True):
    """`F.interpolate` with MMSeg's defaults (nearest, no antialias) and its alignment warning."""
    if warning and size is not None and align_corners:
        input_h, input_w = tuple(int(x) for x in input.shape[2:])
        output_h, output_w = tuple(int(x) for x in size)
        if output_h > input_h or output_w > input_w:
            if ((output_h > 1 and output_w > 1 and input_h > 1 and input_w > 1)
                    and (output_h - 1) % (input_h - 1) and (output_w - 1) % (input_w - 1)):
                warnings.warn(f'When align_corners={align_corners}, the output would be more '
                              f'aligned if input size {(input_h, input_w)} is `x+1` and out size '
                              f'{(output_h, output_w)} is `nx+1`')
    return F.interpolate(input, size, scale_factor, mode, align_corners)
