"""Fixtures: tiny GTA- and Cityscapes-layout datasets in tmp_path."""
import pytest

from datasets_helpers import make_cityscapes, make_gta


@pytest.fixture
def gta_root(tmp_path):
    return make_gta(tmp_path / 'gta')


@pytest.fixture
def cs_root(tmp_path):
    return make_cityscapes(tmp_path / 'cityscapes')
