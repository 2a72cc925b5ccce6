"""Layer-wise learning-rate decay for ViT backbones (BEiT / MMSegmentation / VFM-UDA style).

Selected with `optimizer=dict(type='AdamW', ..., constructor='LayerDecayOptimizerConstructor',
paramwise_cfg=dict(layer_decay_rate=0.9, encoder_lr_mult=0.1, custom_keys=...))`. Works on any
model holding a backbone with `num_layers` (L, its depth) and `layer_id(name)` (0 for the patch
embedding and the tokens, i + 1 for block i, L + 1 for everything else), such as `TimmViT`.

Per parameter, with base lr `lr`, base weight decay `wd`, rate `d` and multiplier `m`:

- a backbone parameter with layer id l <= L (the ViT proper):
  lr * m * d ** (L + 1 - l), i.e. the last block gets lr * m * d and the patch embedding
  lr * m * d ** (L + 1);
- every other parameter (layer id L + 1: the ViT's final norm and the feature pyramid /
  ViT-Adapter; the decode head; any module outside a layer-decay backbone): lr;
- weight decay wd, except 0 for 1-D parameters (norm weights, biases, layer scales) and for
  tokens and position embeddings (`cls_token`, `reg_token`, `mask_token`, `register_tokens`,
  `pos_embed`), as MMSegmentation's constructor;
- MIC's `custom_keys` then multiply on top: the first key (sorted alphabetically, then longest
  first, as mmcv) contained in the parameter's name multiplies its lr by `lr_mult` and its weight
  decay by `decay_mult` (MIC's configs: `head` x10 lr, `norm` / `pos_block` no decay).

Parameters that do not require gradients (a frozen backbone, the frozen feature-distance model)
are left out of the optimizer; mmcv's default constructor keeps them in groups of their own.
Each parameter gets its own group holding only `lr` and `weight_decay`, as mmcv builds them,
so `GroupedAdamW` merges the groups of equal values into one multi-tensor step and a resumed
optimizer state is matched to the parameters by name (`optimizer_state.py`).
"""
import difflib
from typing import Dict, List, Optional, Tuple

from mmcv.runner import OPTIMIZER_BUILDERS, OPTIMIZERS, DefaultOptimizerConstructor
from mmcv.utils import build_from_cfg
from torch import nn

from ...utils.errors import UserError

# mmcv's DefaultOptimizerConstructor reads these `paramwise_cfg` keys (and ignores any other).
MMCV_PARAMWISE_KEYS = frozenset({'custom_keys', 'bias_lr_mult', 'bias_decay_mult',
                                 'norm_decay_mult', 'dwconv_decay_mult', 'dcn_offset_lr_mult',
                                 'bypass_duplicate'})
# Parameters never decayed besides the 1-D ones (timm's and DINOv2's names).
NO_DECAY_NAMES = frozenset({'cls_token', 'reg_token', 'mask_token', 'register_tokens',
                            'pos_embed'})


def layer_decay_backbones(model: nn.Module) -> Dict[str, nn.Module]:
    """{name prefix ending in '.': module} of the modules that define `layer_id` and
    `num_layers` (the student's, the teacher's and the frozen model's backbones of a UDA model)."""
    return {f'{name}.': module for name, module in model.named_modules()
            if name and callable(getattr(module, 'layer_id', None))
            and isinstance(getattr(module, 'num_layers', None), int)}


def layer_decay_lr_mult(layer_id: int, num_layers: int, layer_decay_rate: float,
                        encoder_lr_mult: float) -> float:
    """encoder_lr_mult * rate ** (L + 1 - l) for l <= L (the ViT); 1 for l = L + 1 (the rest)."""
    if not 0 <= layer_id <= num_layers + 1:
        raise ValueError(f'layer id {layer_id} outside [0, {num_layers + 1}]')
    if layer_id == num_layers + 1:
        return 1.0
    return encoder_lr_mult * layer_decay_rate ** (num_layers + 1 - layer_id)


def is_no_decay(name: str, param: nn.Parameter) -> bool:
    """1-D parameters, tokens and position embeddings get no weight decay."""
    return param.ndim <= 1 or name.rsplit('.', 1)[-1] in NO_DECAY_NAMES


def custom_key_mults(name: str, custom_keys: Dict[str, dict]) -> Tuple[float, float]:
    """(lr_mult, decay_mult) of the first custom key contained in `name`, in mmcv's order
    (alphabetical, then longest first); (1, 1) if none."""
    for key in sorted(sorted(custom_keys), key=len, reverse=True):
        if key in name:
            return (custom_keys[key].get('lr_mult', 1.0), custom_keys[key].get('decay_mult', 1.0))
    return 1.0, 1.0


def layer_decay_param_groups(model: nn.Module, base_lr: float, base_wd: float,
                             layer_decay_rate: float = 1.0, encoder_lr_mult: float = 1.0,
                             custom_keys: Optional[Dict[str, dict]] = None) -> List[dict]:
    """One `{'params': [p], 'lr': ..., 'weight_decay': ...}` per trainable parameter of `model`,
    in `named_parameters` order (the module doc has the rules).

    Raises:
        UserError: `layer_decay_rate` or `encoder_lr_mult` differ from 1 but the model has no
            backbone with `layer_id` / `num_layers`.
    """
    backbones = layer_decay_backbones(model)
    if not backbones and (layer_decay_rate != 1 or encoder_lr_mult != 1):
        raise UserError('optimizer.constructor=LayerDecayOptimizerConstructor: the model has no '
                        'backbone with `layer_id` and `num_layers` (a ViT backbone such as '
                        'TimmViT); use the default constructor for this backbone.')
    groups = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        lr_mult = 1.0
        prefix = max((p for p in backbones if name.startswith(p)), key=len, default=None)
        if prefix is not None:
            backbone = backbones[prefix]
            lr_mult = layer_decay_lr_mult(backbone.layer_id(name[len(prefix):]),
                                          backbone.num_layers, layer_decay_rate, encoder_lr_mult)
        key_lr_mult, key_decay_mult = custom_key_mults(name, custom_keys or {})
        decay = 0.0 if is_no_decay(name, param) else base_wd
        groups.append({'params': [param], 'lr': base_lr * lr_mult * key_lr_mult,
                       'weight_decay': decay * key_decay_mult})
    return groups


@OPTIMIZER_BUILDERS.register_module()
class LayerDecayOptimizerConstructor(DefaultOptimizerConstructor):
    """mmcv optimizer constructor with layer-wise lr decay and an encoder lr multiplier.

    Config keys (`optimizer.paramwise_cfg`):
        layer_decay_rate (float): d in (0, 1]; 1 (default) = no decay over the layers.
        encoder_lr_mult (float): m > 0, the ViT's lr relative to the base lr; default 1.
        custom_keys (dict): MIC's per-name multipliers, applied on top (module doc).

    `optimizer.lr` is the base lr (decode head, pyramid); `optimizer.weight_decay` must be set.
    The layer ids come from the backbone's `layer_id(name)`, called with the parameter's name
    relative to the backbone (e.g. 'vit.blocks.3.attn.qkv.weight').
    """
    PARAMWISE_KEYS = frozenset({'layer_decay_rate', 'encoder_lr_mult', 'custom_keys'})

    def __init__(self, optimizer_cfg: Dict, paramwise_cfg: Optional[Dict] = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        for key in paramwise_cfg:
            if key not in self.PARAMWISE_KEYS:
                valid = sorted(self.PARAMWISE_KEYS)
                hint = difflib.get_close_matches(key, valid, n=1)
                hint = f" Did you mean '{hint[0]}'?" if hint else ''
                raise UserError(f"unknown config key '{key}' for LayerDecayOptimizerConstructor "
                                f'(in optimizer.paramwise_cfg).{hint} Valid keys: '
                                f'{", ".join(valid)}')
        super().__init__(optimizer_cfg, paramwise_cfg)
        self.layer_decay_rate = float(paramwise_cfg.get('layer_decay_rate', 1.0))
        self.encoder_lr_mult = float(paramwise_cfg.get('encoder_lr_mult', 1.0))
        if not 0 < self.layer_decay_rate <= 1:
            raise UserError('optimizer.paramwise_cfg.layer_decay_rate must be in (0, 1], got '
                            f'{self.layer_decay_rate}')
        if self.encoder_lr_mult <= 0:
            raise UserError('optimizer.paramwise_cfg.encoder_lr_mult must be > 0, got '
                            f'{self.encoder_lr_mult}')
        if self.base_lr is None or self.base_wd is None:
            raise UserError('optimizer.lr and optimizer.weight_decay must be set for '
                            'LayerDecayOptimizerConstructor.')

    def __call__(self, model: nn.Module):
        model = model.module if hasattr(model, 'module') else model
        optimizer_cfg = dict(self.optimizer_cfg)
        optimizer_cfg['params'] = layer_decay_param_groups(
            model, self.base_lr, self.base_wd, self.layer_decay_rate, self.encoder_lr_mult,
            self.paramwise_cfg.get('custom_keys'))
        return build_from_cfg(optimizer_cfg, OPTIMIZERS)
