"""A training run writes TensorBoard scalars and a one-page summary picture by default."""
import json

import pytest
from PIL import Image

from mmseg.core.hooks.run_summary import panel_keys

pytestmark = pytest.mark.slow


def logged_train_keys(work_dir) -> set:
    log = next(work_dir.glob('*.log.json'))
    lines = [json.loads(line) for line in log.read_text().splitlines()[1:]]
    return {k for line in lines if line.get('mode') == 'train' for k in line} - {
        'mode', 'epoch', 'iter', 'lr', 'memory', 'time', 'data_time'}


def test_tensorboard_events_hold_every_logged_loss_and_statistic(tiny_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(tiny_run / 'tf_logs'))
    events.Reload()
    scalars = set(events.Tags()['scalars'])
    expected = logged_train_keys(tiny_run)
    assert {'decode.loss_seg', 'mix.decode.loss_seg', 'plf.kept'} <= expected
    assert {f'train/{k}' for k in expected} <= scalars
    assert {'learning_rate', 'val/mIoU'} <= scalars
    log = next(tiny_run.glob('*.log.json'))
    first = [json.loads(line) for line in log.read_text().splitlines()[1:]][0]
    event = events.Scalars('train/decode.loss_seg')[0]
    assert (event.step, event.value) == (first['iter'], pytest.approx(first['decode.loss_seg']))


def test_run_summary_png_is_written_at_the_end_of_training(tiny_run):
    with Image.open(tiny_run / 'run_summary.png') as img:
        assert img.width > 400 and img.height > 300


def test_summary_panels_group_losses_miou_plf_statistics_and_lr():
    curves = {k: ([1], [0.5]) for k in ('decode.loss_seg', 'mix.decode.loss_seg', 'mIoU',
                                       'plf.kept', 'plf.acc_before', 'lr', 'decode.acc_seg')}
    assert panel_keys(curves) == {
        'loss terms': ['decode.loss_seg', 'mix.decode.loss_seg'],
        'validation mIoU': ['mIoU'], 'pseudo-label statistics': ['plf.acc_before', 'plf.kept'],
        'learning rate': ['lr']}
