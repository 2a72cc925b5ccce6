"""The installable package: version, registries and the mmcv version gate."""
import os
import subprocess
import sys
import textwrap

import pytest

import mmseg
from mmseg.datasets import DATASETS, PIPELINES
from mmseg.models import BACKBONES, HEADS, LOSSES, NECKS, SEGMENTORS, UDA


def test_package_has_a_version():
    assert mmseg.__version__.startswith('0.16.0+pcpr')
    assert mmseg.version_info[:2] == (0, 16)


def test_registries_hold_the_mic_names():
    assert {'mit_b0', 'mit_b5'} <= set(BACKBONES.module_dict)
    assert {'DAFormerHead', 'SegFormerHead', 'HRDAHead', 'ProjectionHead'} <= set(
        HEADS.module_dict)
    assert {'EncoderDecoder', 'HRDAEncoderDecoder'} <= set(SEGMENTORS.module_dict)
    assert {'DACS', 'PCPR'} <= set(UDA.module_dict)
    assert 'CrossEntropyLoss' in LOSSES.module_dict and NECKS is not None
    assert {'CityscapesDataset', 'GTADataset', 'SynthiaDataset', 'ACDCDataset',
            'DarkZurichDataset', 'UDADataset'} <= set(DATASETS.module_dict)
    assert {'LoadImageFromFile', 'RandomCrop', 'MultiScaleFlipAug'} <= set(PIPELINES.module_dict)


@pytest.mark.parametrize('version', ['1.3.7', '1.6.2', '2.1.0'])
def test_unsupported_mmcv_is_refused_with_one_line_naming_the_needed_version(version):
    with pytest.raises(ImportError) as err:
        mmseg._check_mmcv(version)
    message = str(err.value)
    assert '\n' not in message
    assert f'mmcv {version} is installed' in message and 'mmcv>=1.7.0,<1.8.0' in message


def test_importing_mmseg_next_to_an_old_mmcv_fails_at_import(tmp_path):
    fake = tmp_path / 'mmcv'
    fake.mkdir()
    (fake / '__init__.py').write_text("__version__ = '1.3.7'\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.getcwd()]))
    result = subprocess.run([sys.executable, '-c', 'import mmseg'], env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith('ImportError:') and 'mmcv>=1.7.0,<1.8.0' in last_line


def test_mmcv_1_7_patch_releases_and_release_candidates_are_accepted():
    for version in ('1.7.0', '1.7.2', '1.7.3rc1'):
        mmseg._check_mmcv(version)
