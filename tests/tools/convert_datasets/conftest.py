"""Fixtures of the converter tests (this `synthetic_root` overrides tests/tools')."""
import shutil

import pytest

from synthetic_helpers import make_small_synthetic


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    """One small generated data set (9 images per domain: one full FORCED_CYCLE), read-only."""
    return make_small_synthetic(tmp_path_factory.mktemp('synthetic'))


@pytest.fixture
def copy_dataset(synthetic_root, tmp_path):
    """Copy one generated dataset folder (gta, cityscapes, synthia) into the test's tmp_path."""
    def copy(name):
        dst = tmp_path / name
        shutil.copytree(synthetic_root / name, dst)
        return dst
    return copy
