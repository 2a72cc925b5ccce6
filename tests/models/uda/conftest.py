"""Fixtures of the UDA tests."""
import pytest

from uda_helpers import build_tiny_uda


@pytest.fixture
def tiny_uda():
    return build_tiny_uda
