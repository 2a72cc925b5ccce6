"""End to end: run_experiments.py trains each method on synthetic data; tools/test.py scores it.

Runs the real entry points as subprocesses on the demo configs (tiny HRDA, 128 px crops), with
a few iterations on a few generated images in the real GTA/Cityscapes layouts.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.convert_datasets import cityscapes, gta
from tools.synthetic import generate as synthetic

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo_data')
    synthetic.generate(str(root), num_source=9, num_target_train=4, num_target_val=2,
                       size=(128, 256), seed=0)
    gta.main([str(root / 'gta'), '--nproc', '1'])
    cityscapes.main([str(root / 'cityscapes'), '--nproc', '1'])
    return root


def data_options(root, iters=2):
    return [f'data.train.source.data_root={root}/gta/',
            f'data.train.target.data_root={root}/cityscapes/',
            f'data.val.data_root={root}/cityscapes/', f'data.test.data_root={root}/cityscapes/',
            f'runner.max_iters={iters}', f'checkpoint_config.interval={iters}',
            f'evaluation.interval={iters}', 'log_config.interval=1',
            'data.workers_per_gpu=0', 'data.train.rare_class_sampling.min_pixels=1']


def run(args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def train(config, root, cwd, extra=()):
    """Train with run_experiments.py; return the run's work dir."""
    result = run([str(REPO / 'run_experiments.py'), '--config', str(REPO / config),
                  '--cfg-options', *data_options(root), *extra], cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    work_dirs = list((cwd / 'work_dirs' / 'local-demo').iterdir())
    assert len(work_dirs) == 1
    return work_dirs[0]


def last_log(work_dir, mode='train'):
    log_json = next(work_dir.glob('*.log.json'))
    lines = [json.loads(line) for line in log_json.read_text().splitlines()[1:]]
    return [line for line in lines if line.get('mode') == mode][-1]


@pytest.mark.parametrize('config, extra, expected_keys', [
    ('configs/demo/source_only_synthetic.py', (), {'decode.loss_seg'}),
    ('configs/demo/mic_synthetic.py', ('uda.mask_mode=None', 'uda.mask_lambda=0'),
     {'decode.loss_seg', 'mix.decode.loss_seg'}),
    ('configs/demo/mic_synthetic.py', (),
     {'decode.loss_seg', 'mix.decode.loss_seg', 'masked.decode.loss_seg',
      'decode.hr.loss_seg'}),
    ('configs/demo/pcpr_synthetic.py', (),
     {'mix.decode.loss_seg', 'masked.decode.loss_seg', 'plf.kept', 'plf.acc_before',
      'src.fpc.loss_cont', 'fpc.num_init_classes'}),
], ids=['source_only', 'dacs', 'mic_hrda', 'pcpr'])
def test_run_experiments_trains_the_method_and_writes_a_checkpoint(
        config, extra, expected_keys, data_root, tmp_path):
    work_dir = train(config, data_root, tmp_path, extra)
    assert (work_dir / 'iter_2.pth').is_file() and (work_dir / 'latest.pth').exists()
    assert expected_keys <= set(last_log(work_dir))
    assert 'mIoU' in last_log(work_dir, 'val')
    generated = list((tmp_path / 'configs' / 'generated' / 'local-demo').glob('*.py'))
    assert [p.stem for p in generated] == [work_dir.name]


def test_tools_test_scores_a_trained_pcpr_checkpoint_and_writes_predictions(
        data_root, tmp_path):
    work_dir = train('configs/demo/pcpr_synthetic.py', data_root, tmp_path)
    config = work_dir / f'{work_dir.name}.py'
    for hrda_out, show_dir in [('', 'preds'), ('LR', 'preds_LR'), ('HR', 'preds_HR'),
                               ('ATT', 'preds_ATT')]:
        args = ['-m', 'tools.test', str(config), str(work_dir / 'latest.pth'),
                '--eval', 'mIoU', '--show-dir', str(work_dir / show_dir), '--opacity', '1']
        result = run(args + (['--hrda-out', hrda_out] if hrda_out else []), REPO)
        assert result.returncode == 0, result.stderr[-3000:]
        assert 'mIoU' in result.stdout
        assert len(list((work_dir / show_dir).rglob('*.png'))) == 2


def test_resume_from_continues_at_the_saved_iteration(data_root, tmp_path):
    work_dir = train('configs/demo/mic_synthetic.py', data_root, tmp_path)
    result = run([str(REPO / 'tools' / 'train.py'), str(work_dir / f'{work_dir.name}.py'),
                  '--work-dir', str(tmp_path / 'resumed'), '--resume-from',
                  str(work_dir / 'iter_2.pth'), '--cfg-options', *data_options(data_root, 4)],
                 REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    iters = [line['iter'] for line in map(json.loads, next(
        (tmp_path / 'resumed').glob('*.log.json')).read_text().splitlines()[1:])
             if line.get('mode') == 'train']
    assert iters[0] in (2, 3) and iters[-1] == 4
    assert (tmp_path / 'resumed' / 'iter_4.pth').is_file()


def test_pcpr_trains_with_offline_target_pseudo_labels(data_root, tmp_path):
    """A generated offline pseudo-label per target image (here: the labels themselves) feeds
    the filter as one more agreement term (`plf.use_offline_pl`, dataset `pl_dir`)."""
    import shutil
    pl_dir = data_root / 'cityscapes' / 'offline_pl'
    if not pl_dir.exists():
        shutil.copytree(data_root / 'cityscapes' / 'gtFine' / 'train', pl_dir)
    work_dir = train('configs/demo/pcpr_synthetic.py', data_root, tmp_path,
                     ('data.train.target.pl_dir=offline_pl', 'uda.plf.use_offline_pl=True'))
    log = last_log(work_dir)
    assert 0 <= log['plf.m_pl'] <= 1 and log['plf.kept'] <= log['plf.m_pl'] + 1e-6
