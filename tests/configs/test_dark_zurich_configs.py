"""The Dark Zurich configs are the ACDC ones with the Dark Zurich night folders."""
import os

import pytest
from mmcv import Config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DZ_DATA = 'configs/_base_/datasets/uda_cityscapesHR_to_darkzurichHR_1024x1024.py'


def resolved(rel_path: str) -> dict:
    return Config.fromfile(os.path.join(REPO, rel_path))._cfg_dict.to_dict()


@pytest.mark.parametrize('dzur, acdc', [
    ('configs/mic/csHR2dzurHR_mic_hrda.py', 'configs/mic/csHR2acdcHR_mic_hrda.py'),
    ('configs/pcpr/csHR2dzurHR_pcpr.py', 'configs/pcpr/csHR2acdcHR_pcpr.py'),
])
def test_dark_zurich_config_is_the_acdc_config_on_dark_zurich_data(dzur, acdc):
    d, a, data = resolved(dzur), resolved(acdc), resolved(DZ_DATA)['data']
    for key in ('model', 'uda', 'optimizer', 'lr_config', 'runner', 'seed', 'evaluation'):
        assert d[key] == a[key], key
    rcs = a['data']['train']['rare_class_sampling']
    assert d['data']['train'] == dict(data['train'], rare_class_sampling=rcs)
    assert d['data']['val'] == data['val'] and d['data']['test'] == data['test']
    assert (d['data']['samples_per_gpu'], d['data']['workers_per_gpu']) == (2, 1)
    assert d['name'].startswith('csHR2dzurHR_')


def test_pcpr_dark_zurich_config_builds_on_the_mic_one():
    p, m = resolved('configs/pcpr/csHR2dzurHR_pcpr.py'), resolved(
        'configs/mic/csHR2dzurHR_mic_hrda.py')
    assert p['data'] == m['data'] and p['model'] == m['model']
    assert {k: v for k, v in p['uda'].items() if k not in ('plf', 'fpc')} == \
        dict(m['uda'], type='PCPR')

