"""Safe checkpoint reading and loading of segmentor weights from MIC-style files.

Checkpoints are unpickled with `torch.load(weights_only=True)` (tensors and plain containers
only); anything else needs the user's explicit `--unsafe-load`.
"""
import os.path as osp
import pickle
from typing import Dict, Optional

import safetensors
import safetensors.torch
import torch
import torch.nn as nn

from .errors import UserError
from .logger import get_root_logger

# Prefixes of the sub-models in a MIC/DACS UDA checkpoint (the attributes of MIC's `DACS`).
UDA_PREFIXES = ('model.', 'ema_model.', 'imnet_model.')
_MAX_LISTED_KEYS = 5
# Set once by the entry points' `--unsafe-load` flag, so that every reader in the process
# (resume, --load-from, pretrained backbones) follows the user's choice.
_unsafe_default = False


def set_unsafe_load_default(unsafe: bool) -> None:
    """Make `safe_load(path)` without an explicit `unsafe` allow full unpickling or not."""
    global _unsafe_default
    _unsafe_default = bool(unsafe)


def safe_load(path: str, unsafe: Optional[bool] = None) -> dict:
    """Read a checkpoint file onto the CPU.

    Args:
        path: the `.pth` file, or a `.safetensors` file (Hugging Face's weight format, which
            holds tensors only and needs no unpickling).
        unsafe: allow arbitrary pickled objects (only for files from a trusted source);
            None: the process default (False unless the user passed `--unsafe-load`).
    Raises:
        UserError: the file is missing, truncated / not a checkpoint, or needs full unpickling
            while `unsafe` is False.
    """
    if not osp.isfile(path):
        raise UserError(f'checkpoint file not found: {path}')
    if path.endswith('.safetensors'):
        return _load_safetensors(path)
    if unsafe is None:
        unsafe = _unsafe_default
    try:
        return torch.load(path, map_location='cpu', weights_only=not unsafe)
    except pickle.UnpicklingError as err:
        if 'Weights only load failed' in str(err):
            raise UserError(
                f'{path} holds pickled Python objects beyond tensors and plain containers and '
                'was refused (weights_only loading). If you trust its source, rerun with '
                '--unsafe-load.') from None
        raise UserError(f'{path} is truncated or not a PyTorch checkpoint ({err})') from None
    except (RuntimeError, EOFError, KeyError, ValueError) as err:
        raise UserError(
            f'{path} is truncated or not a PyTorch checkpoint ({type(err).__name__}: '
            f'{str(err).splitlines()[0] if str(err) else "unexpected end of file"}); '
            're-download or re-save it.') from None


def _load_safetensors(path: str) -> Dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load_file(path, device='cpu')
    except safetensors.SafetensorError as err:
        raise UserError(f'{path} is truncated or not a safetensors file ({err}); re-download '
                        'it.') from None


def _strip_prefix(state_dict: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """Keys starting with `prefix`, with that (anchored) prefix removed; others are dropped."""
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def extract_segmentor_state_dict(checkpoint: dict, which: str = 'model') -> Dict[str, torch.Tensor]:
    """The segmentor weights of a plain or UDA checkpoint.

    Handles a raw state dict, a `state_dict` wrapper, a DataParallel `module.` prefix and MIC's
    UDA layout, where `which` ('model' = student, as MIC evaluates; 'ema_model' = teacher;
    'imnet_model') selects one sub-model and the others are dropped. Prefixes are stripped only
    at the start of a key (MIC's loader used an unanchored regex).
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    state_dict = {k[len('module.'):] if k.startswith('module.') else k: v
                  for k, v in state_dict.items()}
    if any(k.startswith(UDA_PREFIXES) for k in state_dict):
        if which + '.' not in UDA_PREFIXES:
            raise UserError(f'which={which!r} must be one of {[p[:-1] for p in UDA_PREFIXES]}')
        selected = _strip_prefix(state_dict, which + '.')
        if not selected:
            raise UserError(f'the UDA checkpoint has no {which!r} weights (no key starts with '
                            f'{which + "."!r})')
        return selected
    if which != 'model':
        raise UserError(f'which={which!r} needs a UDA checkpoint (keys prefixed '
                        f'{which + "."!r}), but this is a plain segmentor checkpoint')
    return state_dict


def load_segmentor_checkpoint(model: nn.Module, path: str, which: str = 'model',
                              unsafe: Optional[bool] = None) -> dict:
    """Load segmentor weights from `path` into `model`; return the checkpoint's `meta` or {}.

    Missing keys mean the checkpoint was made for another architecture and raise a UserError;
    unexpected keys (e.g. the scale-attention head under `--hrda-out LR`) are logged.
    """
    checkpoint = safe_load(path, unsafe=unsafe)
    if not isinstance(checkpoint, dict):
        raise UserError(f'{path} does not hold a state dict (found {type(checkpoint).__name__})')
    load_state_dict_checked(model, extract_segmentor_state_dict(checkpoint, which), path)
    meta = checkpoint.get('meta') if 'state_dict' in checkpoint else None
    return meta if isinstance(meta, dict) else {}


def load_state_dict_checked(model: nn.Module, state_dict: Dict[str, torch.Tensor],
                            path: str) -> None:
    """`model.load_state_dict` that refuses a checkpoint of another architecture.

    Missing keys or shape mismatches raise a UserError naming a few of them; unexpected keys
    are logged and ignored. Nothing is loaded when the checkpoint is refused.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    if missing:
        raise UserError(
            f'{path} does not fit this model (checkpoint of another architecture?): '
            f'{len(missing)} missing keys, e.g. {missing[:_MAX_LISTED_KEYS]}; the checkpoint '
            f'has e.g. {list(state_dict)[:_MAX_LISTED_KEYS]}')
    wrong_shape = [f'{k}: {tuple(v.shape)} vs model {tuple(own[k].shape)}'
                   for k, v in state_dict.items() if k in own and v.shape != own[k].shape]
    if wrong_shape:
        raise UserError(f'{path} does not fit this model (checkpoint of another architecture?): '
                        f'shape mismatch for {wrong_shape[:_MAX_LISTED_KEYS]}')
    unexpected = [k for k in state_dict if k not in own]
    if unexpected:
        get_root_logger().warning(f'{path}: ignored {len(unexpected)} unexpected keys, e.g. '
                                  f'{unexpected[:_MAX_LISTED_KEYS]}')
    model.load_state_dict(state_dict, strict=False)


def read_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The raw state dict of a weights file (`safe_load`), unwrapped from `state_dict`/`model`.

    Raises:
        UserError: the file does not hold a dict (see also `safe_load`).
    """
    checkpoint = safe_load(path)
    if not isinstance(checkpoint, dict):
        raise UserError(f'{path} does not hold a state dict (found {type(checkpoint).__name__})')
    return checkpoint.get('state_dict', checkpoint.get('model', checkpoint))


def load_state_dict_strict(module: nn.Module, state_dict: Dict[str, torch.Tensor], path: str,
                           describe: str, hint: str,
                           optional_suffix: Optional[str] = None) -> None:
    """Load `state_dict` (read from `path`) into `module` only if it fits exactly.

    Every module key (except those ending in `optional_suffix`) must be present, no other key
    may remain and shapes must match; otherwise one UserError names the file, `describe` (the
    module), the differences and `hint`, and nothing is loaded.
    """
    own = module.state_dict()
    missing = sorted(k for k in set(own) - set(state_dict)
                     if not (optional_suffix and k.endswith(optional_suffix)))
    unexpected = sorted(set(state_dict) - set(own))
    wrong_shape = sorted(f'{k}: {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}'
                         for k in set(own) & set(state_dict)
                         if own[k].shape != state_dict[k].shape)
    if missing or unexpected or wrong_shape:
        def listed(keys):
            return f'{keys[:10]}{" ..." if len(keys) > 10 else ""}'
        raise UserError(f'{path} does not match {describe}: missing keys {listed(missing)}, '
                        f'unexpected keys {listed(unexpected)}, shape mismatch '
                        f'{listed(wrong_shape)} ({hint})')
    module.load_state_dict(state_dict, strict=optional_suffix is None)


def load_backbone_weights(backbone: nn.Module, path: str, drop_prefix: str, describe: str,
                          hint: str, optional_suffix: Optional[str] = None) -> None:
    """Strictly load ImageNet weights into a backbone (MIC loads them non-strictly).

    The file holds a raw state dict or one under `state_dict`/`model`; keys starting with
    `drop_prefix` (the ImageNet classifier) are dropped, the rest must fit the backbone exactly
    (`load_state_dict_strict`).
    """
    state_dict = {k: v for k, v in read_state_dict(path).items()
                  if not k.startswith(drop_prefix)}
    load_state_dict_strict(backbone, state_dict, path, describe, hint, optional_suffix)
