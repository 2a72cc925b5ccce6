"""Non-finite steps are skipped without touching weights/teacher/prototypes; K in a row stop."""
import math

import pytest
import torch

from mmseg.core.runner.nonfinite import losses_finite
from mmseg.models.uda.uda_decorator import UDADecorator
from mmseg.utils.errors import UserError
from tools.train import main as train_main

from runner_helpers import CONFIG, demo_options


def test_feature_distance_nan_alone_is_not_a_bad_step():
    # MIC's thing-class feature distance is NaN when no cell qualifies (zero gradient).
    log_vars = {'decode.loss_seg': torch.tensor(1.2), 'decode.acc_seg': torch.tensor(5.0),
                'src.loss_imnet_feat_dist': torch.tensor(math.nan)}
    assert bool(losses_finite(log_vars))
    log_vars['mix.decode.loss_seg'] = torch.tensor(math.inf)
    assert not bool(losses_finite(log_vars))


def test_nan_steps_are_skipped_then_run_stops_naming_iteration(demo_data, tmp_path,
                                                               monkeypatch):
    original = UDADecorator.train_step

    def nan_from_second_iteration(self, data_batch, optimizer, **kwargs):
        if self.local_iter >= 1:
            data_batch = dict(data_batch, img=data_batch['img'] * math.nan)
        return original(self, data_batch, optimizer, **kwargs)

    monkeypatch.setattr(UDADecorator, 'train_step', nan_from_second_iteration)
    with pytest.raises(UserError) as err:
        train_main([CONFIG, '--work-dir', str(tmp_path), '--no-validate',
                    *demo_options(demo_data, max_iters=6, interval=1,
                                  **{'nonfinite_loss.max_consecutive': 2})])
    message = str(err.value)
    assert message.startswith('training stopped at iteration 3: the loss was non-finite')
    assert f'the last good checkpoint is {tmp_path}/iter_2.pth' in message
    assert 'lower learning rate' in message and 'mixed_precision=None' in message
    assert sorted(p.name for p in tmp_path.glob('iter_*.pth')) == ['iter_1.pth', 'iter_2.pth']
    good = torch.load(tmp_path / 'iter_1.pth', weights_only=True)
    skipped = torch.load(tmp_path / 'iter_2.pth', weights_only=True)
    for key, value in skipped['state_dict'].items():
        assert torch.isfinite(value.float()).all(), key
        if key.startswith(('model.', 'proto_memory.')):  # no step, buffers restored
            assert torch.equal(value, good['state_dict'][key]), key
    assert skipped['train_state']['local_iter'] == 2
