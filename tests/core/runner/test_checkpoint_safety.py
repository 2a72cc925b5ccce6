"""Checkpoints: refused when unsafe/broken/foreign, written atomically, resumed as documented."""
import logging
import os

import pytest
import torch

from mmseg.core.runner.checkpoint_files import (atomic_save, find_latest_checkpoint,
                                                prune_checkpoints)
from mmseg.utils.errors import UserError
from tools.train import main as train_main

from runner_helpers import CONFIG, demo_options


class NotAWeight:
    """A custom class: unpickling it would run arbitrary code paths."""


@pytest.fixture(scope='module')
def trained(demo_data, tmp_path_factory):
    """A work dir after one demo iteration (iter_1.pth, latest.pth)."""
    work_dir = tmp_path_factory.mktemp('trained')
    train_main([CONFIG, '--work-dir', str(work_dir), '--no-validate',
                *demo_options(demo_data, max_iters=1)])
    return work_dir


def file_states(folder):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()
            if p.suffix == '.pth'}


def resume(demo_data, work_dir, checkpoint, max_iters=2):
    train_main([CONFIG, '--work-dir', str(work_dir), '--no-validate', '--resume-from',
                str(checkpoint), *demo_options(demo_data, max_iters=max_iters)])


def good_checkpoint(trained):
    return torch.load(trained / 'iter_1.pth', weights_only=True)


def test_truncated_checkpoint_is_refused_and_work_dir_untouched(demo_data, trained, tmp_path):
    truncated = tmp_path / 'truncated.pth'
    data = (trained / 'iter_1.pth').read_bytes()
    truncated.write_bytes(data[:len(data) // 2])
    before = file_states(trained)
    with pytest.raises(UserError, match=rf'{truncated} is truncated or not a PyTorch checkpoint'):
        resume(demo_data, trained, truncated)
    assert file_states(trained) == before


def test_pickled_custom_class_is_refused_unless_unsafe_load(demo_data, trained, tmp_path):
    unsafe = tmp_path / 'unsafe.pth'
    torch.save(dict(good_checkpoint(trained), extra=NotAWeight()), unsafe)
    before = file_states(trained)
    with pytest.raises(UserError, match=rf'{unsafe} holds pickled Python objects .*--unsafe-load'):
        resume(demo_data, trained, unsafe)
    assert file_states(trained) == before


def test_checkpoint_of_another_model_is_refused_and_work_dir_untouched(demo_data, trained,
                                                                       tmp_path):
    # A plain segmentor checkpoint (e.g. of the target oracle) is no UDA training state.
    plain = tmp_path / 'segmentor.pth'
    ckpt = good_checkpoint(trained)
    ckpt['state_dict'] = {k[len('model.'):]: v for k, v in ckpt['state_dict'].items()
                          if k.startswith('model.')}
    torch.save(ckpt, plain)
    before = file_states(trained)
    with pytest.raises(UserError, match=rf'{plain} does not fit this model \(checkpoint of '
                                        r'another architecture\?\).*missing keys'):
        resume(demo_data, trained, plain)
    assert file_states(trained) == before


def test_mic_checkpoint_resumes_at_its_file_iteration_with_warnings(demo_data, trained,
                                                                    tmp_path):
    # MIC/mmcv layout: meta.iter = N - 1 for iter_N.pth, no UDA counter, no RNG states.
    mic = tmp_path / 'iter_1.pth'
    ckpt = good_checkpoint(trained)
    ckpt['meta'] = {k: v for k, v in ckpt['meta'].items() if k not in ('exact_resume',)}
    ckpt['meta']['iter'] = 0
    del ckpt['train_state'], ckpt['rng']
    torch.save(ckpt, mic)
    work_dir = tmp_path / 'wd'
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logging.getLogger('mmseg').addHandler(handler)
    try:
        resume(demo_data, work_dir, mic, max_iters=2)
    finally:
        logging.getLogger('mmseg').removeHandler(handler)
    assert sorted(p.name for p in work_dir.glob('iter_*.pth')) == ['iter_2.pth']
    out = torch.load(work_dir / 'iter_2.pth', weights_only=True)
    assert out['meta']['iter'] == 2 and out['train_state']['local_iter'] == 2
    log = '\n'.join(records)
    assert 'resuming at iteration 1' in log
    assert 'no UDA iteration counter' in log
    assert 'no random generator states' in log


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / 'iter_1.pth'
    atomic_save({'w': torch.ones(2)}, str(path))
    before = path.read_bytes()

    def disk_full(obj, f, *args, **kwargs):
        f.write(b'partial')
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(torch, 'save', disk_full)
    with pytest.raises(OSError, match='No space left'):
        atomic_save({'w': torch.zeros(2)}, str(path))
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ['iter_1.pth']


def test_pruning_keeps_newest_and_auto_resume_skips_incomplete(tmp_path):
    for n in (2, 4, 6, 8):
        atomic_save({'n': n}, str(tmp_path / f'iter_{n}.pth'))
    prune_checkpoints(str(tmp_path), keep=2, protect=str(tmp_path / 'iter_8.pth'))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_6.pth', 'iter_8.pth']
    (tmp_path / 'iter_10.pth').write_bytes(b'killed while writing')  # e.g. by MIC's saver
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_8.pth')
