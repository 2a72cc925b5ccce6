"""Optimizer state matched to parameters by name, not by position.

torch saves an optimizer's per-parameter state (AdamW's moments) and its parameter groups (one
per parameter with mmcv's `paramwise_cfg`, each with its own lr and weight decay) by position.
A checkpoint whose writer registered its modules in another order (MIC's MiT and ours before
this module existed differ in where `patch_embed1..4` sit) would put every moment on the wrong
parameter. The checkpoint's own state dict lists the writer's parameters in registration
order, which is the order mmcv's optimizer constructor walked, so each position gets a name.
A constructor that leaves parameters out (LayerDecayOptimizerConstructor: the frozen ones) walks
the same order; the names are then those of the parameters the optimizer holds.
"""
from typing import Dict, List, Mapping, Sequence, Tuple

import torch
from torch import nn

from ...utils.errors import UserError

# How a step is computed, not what it computes: this run's config decides, not the checkpoint
# (a CPU checkpoint resumed on a GPU keeps the config's fused kernel, and vice versa).
IMPLEMENTATION_KEYS = ('foreach', 'fused', 'capturable', 'differentiable')


def writer_parameter_order(state_dict: Mapping[str, torch.Tensor],
                           parameter_names: Sequence[str]) -> List[str]:
    """The names of `parameter_names` (those the optimizer holds) in the order the checkpoint's
    writer registered them."""
    wanted = set(parameter_names)
    return [name for name in state_dict if name in wanted]


def remap_optimizer_state(saved: dict, saved_order: Sequence[str],
                          param_groups: Sequence[dict],
                          named_parameters: Sequence[Tuple[str, nn.Parameter]],
                          path: str) -> dict:
    """`saved` (an optimizer state dict written in `saved_order`) rewritten for this optimizer.

    Args:
        saved: {'state': {position: {...}}, 'param_groups': [{'params': [position, ...], ...}]}.
        saved_order: parameter names, one per saved position (`writer_parameter_order`).
        param_groups: this optimizer's `param_groups` (their `params` are the tensors).
        named_parameters: this model's (name, parameter) pairs.
    Returns:
        a state dict for this optimizer's `load_state_dict`: each group takes the hyperparameters
        (lr, initial_lr, weight decay, ...) of the saved group that held its parameters but
        keeps its own `IMPLEMENTATION_KEYS`; each parameter takes the saved state of the
        parameter of the same name.
    Raises:
        UserError: the checkpoint's optimizer does not cover the same parameters, groups them
            differently or holds a state of another shape.
    """
    saved_groups = saved['param_groups']
    positions = [pos for group in saved_groups for pos in group['params']]
    advice = ('start a new run from its weights with --load-from instead of --resume-from '
              '(the optimizer then restarts)')
    if len(positions) != len(saved_order):
        raise UserError(f'{path}: its optimizer holds {len(positions)} parameters but its model '
                        f'{len(saved_order)}; it was written by another model or config: '
                        f'{advice}.')
    position_of = dict(zip(saved_order, positions))
    group_of = {pos: index for index, group in enumerate(saved_groups) for pos in group['params']}
    name_of = {id(param): name for name, param in named_parameters}

    state: Dict[int, dict] = {}
    groups = []
    new_position = 0
    for group in param_groups:
        source_groups, params = set(), []
        for param in group['params']:
            name = name_of.get(id(param))
            if name not in position_of:
                raise UserError(f'{path}: its optimizer has no state for parameter {name}: '
                                f'{advice}.')
            old = position_of[name]
            source_groups.add(group_of[old])
            if old in saved['state']:
                state[new_position] = _checked_state(saved['state'][old], param, name, path,
                                                     advice)
            params.append(new_position)
            new_position += 1
        if len(source_groups) != 1:
            raise UserError(f'{path}: its optimizer groups the parameters differently from '
                            f'this config\'s optimizer.paramwise_cfg: {advice}.')
        hyper = {k: v for k, v in saved_groups[source_groups.pop()].items() if k != 'params'}
        hyper.update({k: group[k] for k in IMPLEMENTATION_KEYS if k in group})
        groups.append(dict(hyper, params=params))
    return dict(state=state, param_groups=groups)


def _checked_state(param_state: dict, param: nn.Parameter, name: str, path: str,
                   advice: str) -> dict:
    for key, value in param_state.items():
        if torch.is_tensor(value) and value.dim() > 0 and value.shape != param.shape:
            raise UserError(f'{path}: optimizer state {key} of {name} has shape '
                            f'{tuple(value.shape)}, the parameter {tuple(param.shape)}: '
                            f'{advice}.')
    return param_state
