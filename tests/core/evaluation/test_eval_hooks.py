"""EvalHook inside mmcv's IterBasedRunner: metrics reach the log at priority LOW."""
import json

import numpy as np
import pytest
import torch
from mmcv.runner import IterBasedRunner

from mmseg.core.evaluation import EvalHook
from mmseg.datasets import build_dataloader
from mmseg.utils import get_root_logger
from mmseg.utils.device import ModelOnDevice

from apis_helpers import FixedPredictor, H, W, miou_by_loop, val_dataset, write_cityscapes_val


class TrainableFixedPredictor(FixedPredictor):
    """Reports a constant loss per training step; predicts fixed maps at test time."""

    def train_step(self, data_batch, optimizer, **kwargs):
        return dict(log_vars={'decode.loss_seg': 1.0}, num_samples=1)


@pytest.fixture(scope='module')
def run_with_eval_hook(tmp_path_factory):
    """Run 2 iterations with evaluation every iteration; return (work_dir, expected mIoU)."""
    tmp_path = tmp_path_factory.mktemp('eval_hook')
    rng = np.random.RandomState(0)
    labels = {'aachen_000000_000019': rng.randint(0, 3, (H, W)).astype(np.uint8)}
    gts = write_cityscapes_val(tmp_path / 'cs', labels)
    preds = {name: np.where(rng.rand(H, W) < 0.6, gt, 0).astype(np.int64)
             for name, gt in gts.items()}
    loader = build_dataloader(val_dataset(tmp_path / 'cs'), samples_per_gpu=1,
                              workers_per_gpu=0, dist=False, shuffle=False)
    work_dir = tmp_path / 'work'
    model = TrainableFixedPredictor(preds)
    runner = IterBasedRunner(ModelOnDevice(model, 'cpu'), optimizer=torch.optim.SGD(
        model.parameters(), lr=0.1), work_dir=str(work_dir), logger=get_root_logger(),
        max_iters=2)
    runner.register_training_hooks(lr_config=None, log_config=dict(
        interval=1, hooks=[dict(type='TextLoggerHook')]))
    runner.register_hook(EvalHook(loader, interval=1, metric='mIoU'), priority='LOW')
    train_loader = torch.utils.data.DataLoader([dict(x=0.0)] * 4, batch_size=1)
    runner.run([train_loader], [('train', 2)])
    names = sorted(gts)
    return work_dir, miou_by_loop([preds[n] for n in names], [gts[n] for n in names], 19)


def test_eval_hook_logs_miou_after_each_interval(run_with_eval_hook):
    work_dir, expected = run_with_eval_hook
    (log_file,) = work_dir.glob('*.log.json')
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    val = [line for line in lines if line.get('mode') == 'val']
    assert len(val) == 2
    assert all(line['mIoU'] == pytest.approx(expected, abs=1e-9) for line in val)
    assert all('IoU.road' in line and 'aAcc' in line for line in val)


def test_eval_hook_keeps_the_training_lines_timed(run_with_eval_hook):
    """Registered at priority LOW, evaluation does not break the logger's data_time."""
    work_dir, _ = run_with_eval_hook
    (log_file,) = work_dir.glob('*.log.json')
    train = [json.loads(line) for line in log_file.read_text().splitlines()
             if '"mode": "train"' in line]
    assert [line['iter'] for line in train] == [1, 2]
    assert all('data_time' in line and 'time' in line for line in train)


def test_eval_hook_defaults_to_iteration_based_streaming_evaluation():
    loader = torch.utils.data.DataLoader([0])
    hook = EvalHook(loader, interval=4000, metric='mIoU')
    assert hook.by_epoch is False and hook.pre_eval is True
    assert hook.eval_kwargs == dict(metric='mIoU')
