"""Resolved snapshots of every shipped and generated config (tests/configs/resolved/).

`resolved(path)` loads a config with mmcv's `Config` (all `_base_` files merged) and returns
it as plain JSON data: tuples become lists, nothing else changes and nothing is dropped.
`generated()` does the same for every config that experiments.py generates.

    PYTHONPATH=. python tests/configs/resolve_configs.py          # rewrite all snapshots
    PYTHONPATH=. python tests/configs/resolve_configs.py --check  # compare, write nothing

Snapshots are written once, before a refactoring of the configs; the refactoring must leave
every one of them unchanged (tests/configs/test_resolved_configs.py).
"""
import argparse
import glob
import json
import os
import sys
import tempfile
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(REPO, 'configs')
SNAPSHOTS = os.path.join(REPO, 'tests', 'configs', 'resolved')
# experiments.py lives at the top level of the repository.
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def plain(node):
    """`node` as JSON data: dicts with string keys, lists for lists and tuples."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [plain(v) for v in node]
    return node


def resolved(path: str) -> dict:
    """The config at `path` (relative to the repository or absolute), resolved by mmcv."""
    from mmcv import Config
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        cfg = Config.fromfile(os.path.join(REPO, path))
    return plain(cfg._cfg_dict.to_dict())


def shipped_configs() -> list:
    """Every config file under configs/ except configs/_base_/ and configs/generated/."""
    skip = (os.path.join(CONFIGS, '_base_') + os.sep, os.path.join(CONFIGS, 'generated') + os.sep)
    return sorted(os.path.relpath(p, REPO)
                  for p in glob.glob(os.path.join(CONFIGS, '**', '*.py'), recursive=True)
                  if not p.startswith(skip))


def resolved_generated(cfg: dict) -> dict:
    """A config dict of experiments.py, written as run_experiments.py writes it, resolved."""
    lines = [f"_base_ = {[os.path.join(CONFIGS, b) for b in cfg['_base_']]!r}"]
    lines += [f'{k} = {v!r}' for k, v in cfg.items() if k != '_base_']
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'generated.py')
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return resolved(path)


def generated() -> dict:
    """{snapshot name: config dict} of every experiment group of experiments.py."""
    from experiments import EXPERIMENTS, generate_experiment_cfgs
    out = {}
    for exp_id in sorted(EXPERIMENTS):
        for cfg in generate_experiment_cfgs(exp_id):
            out[f'experiments__exp{exp_id}__{cfg["name"]}'] = cfg
    return out


def snapshot_name(path: str) -> str:
    return path.replace(os.sep, '__')


def current_names() -> dict:
    """{snapshot name: config path or generated config dict} of every config."""
    out = {snapshot_name(p): p for p in shipped_configs()}
    out.update(generated())
    return out


def resolve_named(name: str, configs: dict = None) -> dict:
    """The resolved config of snapshot `name` (`configs`: a `current_names()` result)."""
    source = (configs or current_names())[name]
    return resolved(source) if isinstance(source, str) else resolved_generated(source)


def current() -> dict:
    """{snapshot name: resolved config} of every shipped and generated config."""
    configs = current_names()
    return {name: resolve_named(name, configs) for name in configs}


def load_snapshot(name: str) -> dict:
    with open(os.path.join(SNAPSHOTS, name + '.json')) as f:
        return json.load(f)


def stored_names() -> list:
    return sorted(os.path.basename(p)[:-len('.json')]
                  for p in glob.glob(os.path.join(SNAPSHOTS, '*.json')))


def dump(node) -> str:
    return json.dumps(node, indent=1, sort_keys=True) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true', help='compare only, write nothing')
    args = parser.parse_args(argv)
    configs = current()
    if args.check:
        stored = set(stored_names())
        bad = sorted(n for n in configs if n not in stored or
                     dump(configs[n]) != dump(load_snapshot(n)))
        bad += sorted(stored - set(configs))
        print('\n'.join(bad) or f'all {len(configs)} configs match their snapshots')
        return 1 if bad else 0
    os.makedirs(SNAPSHOTS, exist_ok=True)
    for old in set(stored_names()) - set(configs):
        os.remove(os.path.join(SNAPSHOTS, old + '.json'))
    for name, cfg in configs.items():
        with open(os.path.join(SNAPSHOTS, name + '.json'), 'w') as f:
            f.write(dump(cfg))
    print(f'wrote {len(configs)} snapshots to {os.path.relpath(SNAPSHOTS, REPO)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
