"""Every shipped config and every config of experiments.py resolves to its snapshot.

The snapshots in tests/configs/resolved/ were written by resolve_configs.py before the configs
were chained (hrda -> mic -> pcpr, PCPR's uda block in one file): a refactoring of the config
files must not change one resolved value. The JSON text is compared, so 1, 1.0 and True differ
and a key set to None differs from a missing key.

A deliberate change of a config: rerun `PYTHONPATH=. python tests/configs/resolve_configs.py`
and review the diff of tests/configs/resolved/ with the change.
"""
import pytest

from resolve_configs import (current_names, dump, load_snapshot, resolve_named,
                             stored_names)

CURRENT = current_names()
STORED = stored_names()
REWRITE = 'PYTHONPATH=. python tests/configs/resolve_configs.py'


def differences(got, want, path=''):
    """Dotted paths at which two JSON values differ (types included)."""
    if isinstance(got, dict) and isinstance(want, dict):
        return [d for key in sorted(set(got) | set(want))
                for d in (differences(got[key], want[key], f'{path}.{key}'.lstrip('.'))
                          if key in got and key in want else
                          [f'{path}.{key}'.lstrip('.') + (' (new)' if key in got else
                                                          ' (missing)')])]
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [d for i, (g, w) in enumerate(zip(got, want))
                for d in differences(g, w, f'{path}.{i}')]
    return [] if dump(got) == dump(want) else [f'{path}: {want!r} -> {got!r}']


def test_every_config_has_a_snapshot():
    missing = sorted(set(CURRENT) - set(STORED))
    assert not missing, f'configs without a snapshot (write one: {REWRITE}): {missing}'


def test_every_snapshot_has_a_config():
    orphans = sorted(set(STORED) - set(CURRENT))
    assert not orphans, f'snapshots of configs that no longer exist: {orphans}'


@pytest.mark.parametrize('name', sorted(set(CURRENT) & set(STORED)))
def test_config_resolves_to_its_snapshot(name):
    got, want = resolve_named(name, CURRENT), load_snapshot(name)
    assert dump(got) == dump(want), f'{name} changed: {differences(got, want)}'
