"""GroupedAdamW: mmcv's `AdamW`, one multi-tensor step per set of equal hyperparameters,
bit-identical to torch's AdamW and with the same state dict."""
import copy
import importlib

import pytest
import torch
from mmcv.runner import OPTIMIZERS, build_optimizer

from mmseg.core.runner.grouped_adamw import GroupedAdamW, merge_equal_groups

from uda_helpers import build_tiny_uda

# MIC's AdamW: lr x10 for the head, no decay for norms and position blocks.
MIC_OPTIMIZER = dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01,
                     paramwise_cfg=dict(custom_keys=dict(head=dict(lr_mult=10.0),
                                                         pos_block=dict(decay_mult=0.0),
                                                         norm=dict(decay_mult=0.0))))


def _student():
    return build_tiny_uda().get_model()


def _stock(model, **extra):
    """torch's own AdamW with the same parameter groups as mmcv builds for MIC's config."""
    built = build_optimizer(model, dict(MIC_OPTIMIZER, **extra))
    groups = [{k: v for k, v in g.items() if k not in ('initial_lr',)} for g in built.param_groups]
    return torch.optim.AdamW(groups, **{k: v for k, v in MIC_OPTIMIZER.items()
                                        if k in ('lr', 'betas', 'weight_decay')}, **extra)


def _train(model, optimizer, steps, seed=0, device='cpu'):
    """`steps` AdamW steps with random gradients (the head's bias left without one every other
    step) under a poly schedule that rescales each group's learning rate."""
    gen = torch.Generator().manual_seed(seed)
    base_lrs = [group['lr'] for group in optimizer.param_groups]
    params = list(model.parameters())
    for step in range(steps):
        for index, param in enumerate(params):
            skip = step % 2 == 1 and index == len(params) - 1
            param.grad = None if skip else torch.randn(param.shape, generator=gen).to(device)
        for group, base in zip(optimizer.param_groups, base_lrs):
            group['lr'] = base * (1 - step / (steps + 1)) ** 1.0
        optimizer.step()


def _assert_same_state(optimizer, reference):
    ours, theirs = optimizer.state_dict(), reference.state_dict()
    assert ours['state'].keys() == theirs['state'].keys()
    for index, state in theirs['state'].items():
        for name, value in state.items():
            assert torch.equal(ours['state'][index][name], value), (index, name)
    assert [g['params'] for g in ours['param_groups']] == \
        [g['params'] for g in theirs['param_groups']]


def test_mmcv_adamw_is_the_grouped_class():
    assert OPTIMIZERS.get('AdamW') is GroupedAdamW
    optimizer = build_optimizer(_student(), MIC_OPTIMIZER)
    assert isinstance(optimizer, GroupedAdamW) and isinstance(optimizer, torch.optim.AdamW)


def test_mic_param_groups_merge_into_their_distinct_hyperparameters():
    optimizer = build_optimizer(_student(), MIC_OPTIMIZER)
    groups = optimizer.param_groups
    distinct = {(g['lr'], g['weight_decay']) for g in groups}
    merged = merge_equal_groups(groups)
    assert len(groups) > 100 and len(merged) == len(distinct) == 3
    assert sum(len(g['params']) for g in merged) == sum(len(g['params']) for g in groups)
    assert all(g['foreach'] is True for g in merged)
    for group in merged:
        for param in group['params']:
            owner = next(g for g in groups if any(p is param for p in g['params']))
            assert (owner['lr'], owner['weight_decay']) == (group['lr'], group['weight_decay'])


@pytest.mark.parametrize('betas_as_list', [False, True])
def test_groups_with_other_names_or_list_values_merge_apart(betas_as_list):
    groups = build_optimizer(_student(), MIC_OPTIMIZER).param_groups
    for group in groups:
        if betas_as_list:  # as from --cfg-options optimizer.betas=[...]
            group['betas'] = list(group['betas'])
    groups[5]['custom'] = 1  # a hyperparameter only this group has
    merged = merge_equal_groups(groups)
    assert len(merged) == 4 and sum(len(g['params']) for g in merged) == len(groups)
    assert [g for g in merged if 'custom' in g][0]['params'] == groups[5]['params']


def test_step_is_bit_identical_to_torch_adamw_over_a_schedule():
    model = _student()
    reference_model = copy.deepcopy(model)
    optimizer = build_optimizer(model, MIC_OPTIMIZER)
    reference = _stock(reference_model)
    _train(model, optimizer, steps=6)
    _train(reference_model, reference, steps=6)
    for (name, param), ref in zip(model.named_parameters(), reference_model.parameters()):
        assert torch.equal(param, ref), name
    _assert_same_state(optimizer, reference)


def test_step_issues_one_update_per_distinct_hyperparameter_set(monkeypatch):
    calls = []
    adam_module = importlib.import_module('torch.optim.adam')  # torch.optim deletes the name
    functional = adam_module.adam

    def counting(params, *args, **kwargs):
        calls.append((len(params), kwargs['foreach']))
        return functional(params, *args, **kwargs)

    monkeypatch.setattr(adam_module, 'adam', counting)
    model = _student()
    optimizer = build_optimizer(model, MIC_OPTIMIZER)
    own_groups = optimizer.param_groups
    _train(model, optimizer, steps=1)
    assert len(calls) == 3 and all(foreach for _, foreach in calls)
    assert sum(n for n, _ in calls) == sum(1 for _ in model.parameters())
    assert optimizer.param_groups is own_groups  # the merged view lived only inside step()

    calls.clear()
    single_model = _student()
    single = build_optimizer(single_model, dict(MIC_OPTIMIZER, foreach=False))
    _train(single_model, single, steps=1)
    assert len(calls) == len(single.param_groups) and not any(f for _, f in calls)


def test_state_dicts_load_both_ways_with_torch_adamw():
    """A checkpoint of either class resumes in the other and training continues identically."""
    model = _student()
    optimizer = build_optimizer(model, MIC_OPTIMIZER)
    _train(model, optimizer, steps=3)

    stock_model = copy.deepcopy(model)
    stock = _stock(stock_model)
    # Deep copies, as a checkpoint on disk: load_state_dict keeps the given moment tensors.
    stock.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    grouped_model = copy.deepcopy(model)
    grouped = build_optimizer(grouped_model, MIC_OPTIMIZER)
    grouped.load_state_dict(copy.deepcopy(stock.state_dict()))
    _train(stock_model, stock, steps=3, seed=1)
    _train(grouped_model, grouped, steps=3, seed=1)
    for param, ref in zip(grouped_model.parameters(), stock_model.parameters()):
        assert torch.equal(param, ref)
    _assert_same_state(grouped, stock)


def test_fused_groups_merge_without_foreach():
    model = _student()
    reference_model = copy.deepcopy(model)
    optimizer = build_optimizer(model, dict(MIC_OPTIMIZER, fused=True))
    assert all(g['foreach'] is None for g in merge_equal_groups(optimizer.param_groups))
    reference = _stock(reference_model, fused=True)
    _train(model, optimizer, steps=3)
    _train(reference_model, reference, steps=3)
    for param, ref in zip(model.parameters(), reference_model.parameters()):
        torch.testing.assert_close(param, ref, rtol=0, atol=1e-7)


def test_step_hooks_run_once_also_after_torch_wrapped_its_own_adamw():
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])  # torch hooks AdamW.step now
    model = _student()
    optimizer = build_optimizer(model, MIC_OPTIMIZER)
    seen = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: seen.append('pre'))
    optimizer.register_step_post_hook(lambda opt, args, kwargs: seen.append('post'))
    _train(model, optimizer, steps=1)
    assert seen == ['pre', 'post']


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_on_cuda_equal_to_torch_adamw_default_and_close_to_single_tensor():
    """On CUDA torch's own default is already multi-tensor (per group), so merging the groups
    keeps the same kernels' arithmetic; the single-tensor kernels may round differently."""
    model = _student().cuda()
    default_model, single_model = copy.deepcopy(model), copy.deepcopy(model)
    optimizer = build_optimizer(model, MIC_OPTIMIZER)
    default, single = _stock(default_model), _stock(single_model, foreach=False)
    for net, opt in ((model, optimizer), (default_model, default), (single_model, single)):
        _train(net, opt, steps=3, device='cuda')
    for param, ref, loose in zip(model.parameters(), default_model.parameters(),
                                 single_model.parameters()):
        assert torch.equal(param, ref)
        torch.testing.assert_close(param, loose, rtol=1e-5, atol=1e-7)
