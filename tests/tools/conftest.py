import pytest

from tools_helpers import make_synthetic_data, train_tiny


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    return make_synthetic_data(tmp_path_factory.mktemp('user_tools_data'))


@pytest.fixture(scope='session')
def tiny_run(synthetic_root, tmp_path_factory):
    """Work dir of a 2-iteration PCPR run (checkpoint, logs, TensorBoard, summary)."""
    return train_tiny(synthetic_root, tmp_path_factory.mktemp('user_tools_run'))
