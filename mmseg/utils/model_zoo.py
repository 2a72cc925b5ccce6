"""Pretrained-weight names as mmcv understands them: `open-mmlab://NAME`, `torchvision://NAME`.

MIC's DeepLabV2 configs set `pretrained='open-mmlab://resnet101_v1c'`; `torchvision://resnet101`
names torchvision's ImageNet weights. Both are resolved to a file in torch's hub cache
(`$TORCH_HOME/hub/checkpoints`, as mmcv and torchvision use), downloaded on first use, then read
with the project's safe loader. Any other string is a local path.
"""
import json
import os
import os.path as osp

import torch

from .errors import UserError

OPEN_MMLAB_PREFIX = 'open-mmlab://'
TORCHVISION_PREFIX = 'torchvision://'


def _open_mmlab_url(name: str) -> str:
    """The URL of an open-mmlab model-zoo name, from mmcv's own name table."""
    import mmcv
    with open(osp.join(osp.dirname(mmcv.__file__), 'model_zoo', 'open_mmlab.json')) as f:
        urls = json.load(f)
    if name not in urls:
        raise UserError(f'unknown pretrained name {OPEN_MMLAB_PREFIX}{name}; mmcv knows e.g. '
                        f'{sorted(k for k in urls if k.startswith("resnet"))}')
    return urls[name]


def _torchvision_url(name: str) -> str:
    """The URL of torchvision's ImageNet-1k (V1) weights of architecture `name`."""
    import torchvision
    try:
        weights = torchvision.models.get_model_weights(name)
    except ValueError:
        raise UserError(f'unknown pretrained name {TORCHVISION_PREFIX}{name}; use a torchvision '
                        'architecture name such as resnet101') from None
    return weights.IMAGENET1K_V1.url


def resolve_pretrained(source: str) -> str:
    """Local file of `source`: a path, or a zoo name downloaded into torch's hub cache.

    Raises:
        UserError: the path does not exist, the name is unknown, or the download failed (the
            message gives the URL and where to put the file by hand).
    """
    if source.startswith(OPEN_MMLAB_PREFIX):
        url = _open_mmlab_url(source[len(OPEN_MMLAB_PREFIX):])
    elif source.startswith(TORCHVISION_PREFIX):
        url = _torchvision_url(source[len(TORCHVISION_PREFIX):])
    else:
        if not osp.isfile(source):
            raise UserError(f'pretrained backbone weights not found: {source}. Give an existing '
                            'file, open-mmlab://NAME, torchvision://NAME, or set '
                            'model.pretrained=None to start from a random initialisation.')
        return source
    path = osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(url))
    if not osp.isfile(path):
        os.makedirs(osp.dirname(path), exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, path)
        except OSError as err:
            raise UserError(f'could not download {source} from {url} ({err}); download it by '
                            f'hand to {path} or set model.pretrained to a local file') from None
    return path
