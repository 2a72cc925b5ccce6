"""tools/synthetic/benchmark.py pretrains (or finds cached) the ImageNet stand-in that each
method's config starts from, and no other."""
import pytest

from tools.synthetic import benchmark, pretrain

MIT = ['--backbone', 'mit_b0', '--out', 'pretrained/mit_b0_synthetic.pth']
VIT = ['--backbone', 'vit_tiny', '--out', 'pretrained/vit_tiny_synthetic.pth']


@pytest.fixture
def pretrain_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(pretrain, 'main', calls.append)
    return calls


@pytest.mark.parametrize('methods, expected', [
    (['mic'], [MIT]),
    (['mic_vit', 'source_only_vit'], [VIT]),
    (['mic', 'mic_vit', 'pcpr'], [MIT, VIT]),
])
def test_each_standin_a_config_starts_from_is_prepared_once(methods, expected,
                                                            pretrain_calls):
    benchmark.prepare_pretrained([benchmark.config_of(m) for m in methods])
    assert pretrain_calls == expected


def test_configs_trained_from_scratch_need_no_standin(pretrain_calls):
    benchmark.prepare_pretrained([benchmark.config_of('mic', 'configs/demo')])
    assert pretrain_calls == []
