"""The UDA step without repeated work computes what MIC's order of operations computes."""
import gc
import random
import weakref

import numpy as np
import pytest
import torch

from mmseg.models.builder import build_train_model
from mmseg.models.segmentors.encoder_decoder import slide_windows, windows_cover

from uda_helpers import build_tiny_uda, random_batch, tiny_pcpr_cfg


def _source_grads(joint_fdist_backward):
    random.seed(0)
    np.random.seed(0)
    model = build_tiny_uda()
    model.joint_fdist_backward = joint_fdist_backward
    calls = []
    backward = model.backward
    model.backward = lambda loss, retain_graph=False: (calls.append(loss),
                                                       backward(loss, retain_graph))
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(5)
    log_vars = model.forward_train(**random_batch())
    grads = {n: p.grad.clone() for n, p in model.get_model().named_parameters()
             if p.grad is not None}
    return grads, dict(log_vars, backward_calls=len(calls))


def test_one_backward_of_source_and_feature_distance_equals_mic_two_backwards():
    """MIC's order (source backward with retain_graph, then the feature distance) is the
    default; `joint_fdist_backward` sums both and walks the graph once."""
    mic_grads, mic_log = _source_grads(False)
    grads, log = _source_grads(True)
    assert torch.isfinite(log['src.loss_imnet_feat_dist'])
    assert (mic_log['backward_calls'], log['backward_calls']) == (4, 3)
    assert mic_log['src.loss_imnet_feat_dist'] == log['src.loss_imnet_feat_dist']
    assert grads.keys() == mic_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], mic_grads[name], rtol=1e-5, atol=1e-6)


def test_windows_cover_is_true_for_slide_grids_and_false_with_a_gap():
    assert windows_cover(slide_windows(1024, 2048, (1024, 1024), (512, 512)), 1024, 2048)
    assert windows_cover(slide_windows(100, 70, (64, 64), (64, 64)), 100, 70)
    # Two 10-px columns at x = 0 and x = 20 leave x in [10, 20) uncovered.
    assert not windows_cover([(0, 10, 0, 10), (0, 10, 20, 30)], 10, 30)
    assert not windows_cover([(0, 10, 0, 30)], 20, 30)


def test_teacher_runs_one_network_pass_per_iteration_with_plf():
    """PCPR's scale consistency reuses the pseudo-label pass (no second teacher forward)."""
    model = build_tiny_uda()
    calls = []
    model.ema_model.backbone.register_forward_hook(lambda *args: calls.append(1))
    model.forward_train(**random_batch())
    assert len(calls) == 2  # one LR batch + one batch of all HR slide tiles


class _SavedTensorCount:
    """Counts the tensors autograd holds for backward (alive = their graph is still alive)."""

    class Saved:
        def __init__(self, tensor):
            # Detached: a saved output holding its own grad_fn would be a reference cycle
            # through autograd's C++ graph, which Python's collector cannot free.
            self.tensor = tensor.detach()

    def __init__(self):
        self.alive = weakref.WeakSet()

    def pack(self, tensor):
        saved = self.Saved(tensor)
        self.alive.add(saved)
        return saved

    @staticmethod
    def unpack(saved):
        return saved.tensor


@pytest.mark.parametrize('model_type', ['DACS', 'PCPR'])
def test_source_graph_is_freed_before_the_teacher_pass(model_type):
    """MIC deletes the source loss after its backward; a retained source graph would keep the
    source pass's activations (GBs at full size) through the teacher, mixed and masked
    passes."""
    cfg = tiny_pcpr_cfg()
    if model_type == 'DACS':
        cfg.uda.type = 'DACS'
        del cfg.uda['plf'], cfg.uda['fpc']
    model = build_train_model(cfg)
    model.init_weights()
    assert model.enable_fdist  # the source backward keeps its graph for the feature distance
    count = _SavedTensorCount()
    alive_at_teacher = []
    teacher_predict = model.teacher_predict

    def counting_teacher_predict(*args, **kwargs):
        gc.collect()
        alive_at_teacher.append(len(count.alive))
        return teacher_predict(*args, **kwargs)

    model.teacher_predict = counting_teacher_predict
    with torch.autograd.graph.saved_tensors_hooks(count.pack, count.unpack):
        model.forward_train(**random_batch())
    assert alive_at_teacher == [0]
