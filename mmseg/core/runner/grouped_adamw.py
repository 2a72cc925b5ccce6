"""AdamW that steps all parameter groups with equal hyperparameters in one multi-tensor call.

MIC's `paramwise_cfg` (lr x10 for the head, no weight decay for norms and position terms) makes
mmcv's optimizer constructor put every parameter in its own group: 223 groups for MiT-B0 +
DAFormer, each stepped separately, so torch's AdamW dispatches its dozen elementwise operations
223 times per iteration (on a GPU: as many kernel launches). Those groups hold only three distinct
(lr, weight decay) pairs. This class steps each set of groups with identical hyperparameters as
one group in torch's multi-tensor (`foreach`) implementation. The arithmetic per element is
torch's own, so the result is bit-identical to `torch.optim.AdamW` (tested on CPU, where torch's
default is the single-tensor step; on CUDA torch's default is already multi-tensor per group, a
CUDA test compares the two); the groups, the per-parameter state and the state dict are
untouched, so checkpoints move freely between this class, torch's and MIC's.

Registered as mmcv's `AdamW`, so MIC's `optimizer=dict(type='AdamW', ...)` selects it;
`foreach=False` in that dict restores torch's per-group single-tensor step, `fused=True` uses
torch's fused kernel on the merged groups.
"""
import inspect
import operator
from typing import Dict, Hashable, List

import torch
from mmcv.runner import OPTIMIZERS


def _full_key(group: Dict) -> Hashable:
    return ('items',) + tuple((name, tuple(value) if isinstance(value, list) else value)
                              for name, value in sorted(group.items()) if name != 'params')


def merge_equal_groups(param_groups: List[Dict]) -> List[Dict]:
    """One group per distinct set of hyperparameters, holding the parameters of all such groups.

    Groups with `foreach=False` stay on their own (the user asked for torch's single-tensor
    step); the others get `foreach=True` unless they are fused or differentiable, which the
    multi-tensor implementation does not support. This runs every step over thousands of groups
    (MiT-B5), so groups with the first group's hyperparameter names are keyed by one C-level
    `itemgetter` call; any other group by its sorted items.
    """
    if not param_groups:
        return []
    names = [name for name in param_groups[0] if name != 'params']
    values_of = operator.itemgetter(*names)
    merged: Dict[Hashable, Dict] = {}
    for group in param_groups:
        if group.get('foreach') is False:
            key = ('own group', id(group))
        else:
            try:  # same size and all the first group's names: the same names
                key = ('values', len(group), values_of(group))
                hash(key)
            except (KeyError, TypeError):  # other names, or a list value
                key = _full_key(group)
        if key not in merged:
            multi_tensor = group.get('foreach')
            if multi_tensor is None and not (group.get('fused') or group.get('differentiable')):
                multi_tensor = True
            merged[key] = dict(group, params=[], foreach=multi_tensor)
        merged[key]['params'].extend(group['params'])
    return list(merged.values())


@OPTIMIZERS.register_module(name='AdamW', force=True)
class GroupedAdamW(torch.optim.AdamW):
    """`torch.optim.AdamW` whose step merges groups with equal hyperparameters (module doc)."""

    def step(self, closure=None):
        # Once any torch AdamW exists, torch has wrapped AdamW.step with its step hooks; this
        # class's own step is wrapped too, so the hooks already ran: call the body beneath.
        adamw_step = inspect.unwrap(torch.optim.AdamW.step,
                                    stop=lambda f: not getattr(f, 'hooked', False))
        own_groups = self.param_groups
        self.param_groups = merge_equal_groups(own_groups)
        try:
            return adamw_step(self, closure)
        finally:
            self.param_groups = own_groups
