"""Fixtures of the synthetic-benchmark tests (this `synthetic_root` overrides tests/tools')."""
import pytest

from synthetic_helpers import make_small_synthetic


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    """One small generated data set (9 images per domain: one full FORCED_CYCLE), read-only."""
    return make_small_synthetic(tmp_path_factory.mktemp('synthetic'))
