"""PLF's offline pseudo-label term `m_pl` (second-wave option `plf.use_offline_pl`)."""
import pytest
import torch

from mmseg.models.uda.pseudo_label_filter import PseudoLabelFilter, offline_agreement
from mmseg.utils.errors import UserError


def test_offline_agreement_keeps_agreeing_and_ignored_pixels():
    label = torch.tensor([[[0, 1, 2, 3]]])
    offline = torch.tensor([[[[0, 2, 255, 3]]]])
    assert torch.equal(offline_agreement(label, offline), torch.tensor([[[1., 0., 1., 1.]]]))


def _filter_inputs():
    fused = torch.zeros(1, 3, 2, 2)
    fused[0, 0] = 5  # the teacher says class 0 everywhere
    return fused, torch.tensor(0.8)


def test_disagreeing_offline_pixels_get_weight_zero():
    fused, q = _filter_inputs()
    plf = PseudoLabelFilter(use_consistency=False, use_edge=False, use_offline_pl=True)
    offline = torch.tensor([[[[0, 1], [255, 0]]]])
    out = plf(fused, None, None, q, offline_pl=offline)
    torch.testing.assert_close(out.pseudo_weight, torch.tensor([[[0.8, 0.0], [0.8, 0.8]]]))
    torch.testing.assert_close(out.maps['reliability'], torch.tensor([[[1.0, 0.0], [1.0, 1.0]]]))
    torch.testing.assert_close(out.stats['plf.m_pl'], torch.tensor(0.75))


def test_offline_term_off_ignores_the_maps():
    fused, q = _filter_inputs()
    plf = PseudoLabelFilter(use_consistency=False, use_edge=False)
    out = plf(fused, None, None, q, offline_pl=torch.ones(1, 1, 2, 2, dtype=torch.long))
    torch.testing.assert_close(out.pseudo_weight, torch.full((1, 2, 2), 0.8))
    assert 'plf.m_pl' not in out.stats


def test_offline_term_without_maps_says_to_set_pl_dir():
    fused, q = _filter_inputs()
    plf = PseudoLabelFilter(use_offline_pl=True)
    with pytest.raises(UserError, match='pl_dir'):
        plf(fused, None, None, q)
