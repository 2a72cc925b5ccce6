"""Loading helpers shared by the config tests."""
import os
import sys
import warnings

from mmcv import Config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(REPO, 'configs')
# experiments.py lives at the top level; make it importable under any pytest invocation.
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def load(rel_path: str) -> Config:
    """Load a config relative to the repository root, silencing mmcv's 2.0 notice."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return Config.fromfile(os.path.join(REPO, rel_path))


def resolved(rel_path: str) -> dict:
    """The fully merged config as plain dicts/lists/tuples."""
    return load(rel_path)._cfg_dict.to_dict()

