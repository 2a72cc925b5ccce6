import shutil

import pytest

from tools.synthetic import generate as synthetic


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    """One small generated data set (9 images per domain: one full FORCED_CYCLE), read-only."""
    root = tmp_path_factory.mktemp('synthetic')
    synthetic.generate(str(root), num_source=9, num_target_train=9, num_target_val=2,
                       size=(64, 128), seed=0, synthia=True, num_synthia=6)
    return root


@pytest.fixture
def copy_dataset(synthetic_root, tmp_path):
    """Copy one generated dataset folder (gta, cityscapes, synthia) into the test's tmp_path."""
    def copy(name):
        dst = tmp_path / name
        shutil.copytree(synthetic_root / name, dst)
        return dst
    return copy
