"""Fixtures and settings of the whole test tree.

The tree mirrors the repository (tests/models/uda tests mmseg/models/uda, tests/tools tests
tools/, ...). Test files have unique basenames and there are no `__init__.py` files: pytest's
default (prepend) import mode imports each test module by its basename with its own folder on
sys.path. Shared code lives in exactly one `<folder>_helpers.py` per folder (unique basenames) and
fixtures in that folder's `conftest.py`; fixtures used by several folders live here. Every test
imports helpers by basename in one style, as the last import group:

    from runner_helpers import CONFIG, demo_options

To make that work from any folder (a helpers module is also used by tests in other folders, e.g.
uda_helpers by tests/apis and tests/core/runner), the folder of each `*_helpers.py` is put on
sys.path once, below.
"""
import glob
import os
import sys

import pytest
import torch

TESTS = os.path.dirname(os.path.abspath(__file__))
_HELPERS = sorted(glob.glob(os.path.join(TESTS, '**', '*_helpers.py'), recursive=True))
_names = [os.path.basename(path) for path in _HELPERS]
assert len(set(_names)) == len(_names), f'helpers modules need unique basenames: {_names}'
for _folder in sorted({os.path.dirname(path) for path in _HELPERS}):
    if _folder not in sys.path:
        sys.path.append(_folder)

# Tests run on CPU with tiny models; one thread keeps parallel runs on a 2-core CI machine fair.
torch.set_num_threads(int(os.environ.get('MMSEG_TEST_THREADS', '1')))

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: a test that takes more than a few seconds')
    config.addinivalue_line('markers', 'cuda: needs a CUDA device (skipped without one); '
                                       '`pytest -m cuda` runs them on a GPU machine')


@pytest.fixture(params=['cpu', pytest.param('cuda', marks=[pytest.mark.cuda, CUDA])])
def device(request):
    """The device a test runs on: 'cpu', and 'cuda' where a GPU is visible."""
    return request.param


@pytest.fixture(autouse=True)
def _seed_everything():
    import random

    import numpy as np
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory):
    """The synthetic GTA-like / Cityscapes-like benchmark, converted (12 + 6 + 1 images); used by
    tests/core/runner and tests/tools."""
    from tools.convert_datasets import cityscapes, gta
    from tools.synthetic import generate as synthetic
    root = tmp_path_factory.mktemp('demo_data')
    synthetic.main([str(root), '--num-source', '12', '--num-target-train', '6',
                    '--num-target-val', '1', '--size', '128', '256', '--seed', '0'])
    gta.main([str(root / 'gta'), '--nproc', '1'])
    cityscapes.main([str(root / 'cityscapes'), '--nproc', '1'])
    return root
