"""Every experiment group of experiments.py builds and trains: one tiny UDA iteration per setting.

MIC's ablation configs (a separate masking teacher, no confidence weight, no masking, supervised
training with masking, every mask mode) take code paths the shipped configs never take, so each
generated setting is resolved by mmcv as run_experiments.py writes it, shrunk to MiT-B0 and run
once on a synthetic batch. Seeds of one setting differ in nothing else (checked), so one seed per
setting is run.
"""
import os
import re

import pytest
import torch
from mmcv import Config

import experiments
from experiments import generate_experiment_cfgs

from uda_helpers import batch, build, seed_all, tiny_cfg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))  # tests/<a>/<b>/ -> the repository


def settings_of(exp_id):
    """One generated config per setting (seed 0), after checking the seeds differ only there."""
    by_setting = {}
    for cfg in generate_experiment_cfgs(exp_id):
        key = re.sub(r'_s\d+$', '', cfg['name'])
        rest = {k: v for k, v in cfg.items() if k not in ('seed', 'name')}
        by_setting.setdefault(key, []).append((cfg['seed'], rest, cfg))
    for key, runs in by_setting.items():
        assert sorted(seed for seed, _, _ in runs) == [0, 1, 2], key
        assert all(rest == runs[0][1] for _, rest, _ in runs), key
    return [cfg for runs in by_setting.values() for seed, _, cfg in runs if seed == 0]


def load_generated(cfg, tmp_path):
    """Write the config as run_experiments.py does (bases relative to configs/) and load it."""
    lines = [f"_base_ = {[os.path.join(REPO, 'configs', b) for b in cfg['_base_']]!r}"]
    lines += [f'{k} = {v!r}' for k, v in cfg.items() if k != '_base_']
    path = tmp_path / f"{cfg['name']}.py"
    path.write_text('\n'.join(lines) + '\n')
    return Config.fromfile(str(path))


def give_biases_a_trained_spread(model):
    """Random init zeroes every bias: a crop that MIC's mask blanks out completely then gives
    all-zero activations, whose LayerNorm backward is NaN. Trained weights never do that."""
    with torch.no_grad():
        for name, param in model.get_model().named_parameters():
            if name.endswith('bias'):
                param.normal_(0, 0.02)


def expected_passes(uda):
    passes = {'decode.loss_seg'}
    if not uda.get('source_only', False):
        passes.add('mix.decode.loss_seg')
    if uda.get('mask_mode') is not None:
        passes.add('masked.decode.loss_seg')
    return passes


@pytest.mark.parametrize('exp_id', sorted(experiments.EXPERIMENTS))
def test_every_setting_of_the_group_builds_and_trains_one_iteration(exp_id, tmp_path):
    for generated in settings_of(exp_id):
        cfg = tiny_cfg(load_generated(generated, tmp_path), keep_mask_generator=True)
        model = build(cfg)
        give_biases_a_trained_spread(model)
        inputs = batch()
        if 'crop_pseudo_margins' not in cfg.data.train.get('target', {}):
            inputs['valid_pseudo_mask'] = None  # as the data loader, which has no margins then
        seed_all()
        log_vars = model.forward_train(**inputs)
        losses = {k for k in log_vars if k.endswith('decode.loss_seg')}
        assert losses == expected_passes(cfg.uda), generated['name']
        assert all(torch.isfinite(log_vars[k]) for k in losses), generated['name']
        grads = [p.grad for p in model.get_model().parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), generated['name']
