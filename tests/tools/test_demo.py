"""The demo and benchmark tools: the full demo path on tiny data, and their bookkeeping."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from mmseg.utils.errors import UserError
from tools.synthetic import benchmark
from tools.synthetic.benchmark import summarise
from tools.demo import DataSpec, data_root_options, prepare_data, read_log

REPO = Path(__file__).resolve().parents[2]
TINY = DataSpec(num_source=3, num_target_train=3, num_target_val=2)


def _run(script, *args):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, str(REPO / 'tools' / script), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)


@pytest.mark.slow
def test_demo_trains_evaluates_draws_and_prints_the_target_miou(tmp_path):
    # 9 source images: one full cycle of the generator's forced classes, which RCS needs.
    proc = _run('demo.py', '--iters', 2, '--data-root', tmp_path / 'data', '--work-dir',
                tmp_path / 'work', '--num-source', 9, '--num-target-train', 3,
                '--num-target-val', 2, '--num-vis', 1, '--log-interval', 1, '--threads', 1)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / 'data' / 'gta' / 'labels' / '00001_labelTrainIds.png').is_file()
    result = json.loads((tmp_path / 'work' / 'demo_result.json').read_text())
    assert 0 <= result['mIoU'] <= 1
    assert 'plf.acc_before' in result and 'plf.acc_after' in result
    assert f"target val mIoU: {100 * result['mIoU']:.2f}" in proc.stdout
    assert 'iter 2/2' in proc.stdout
    grid = cv2.imread(str(tmp_path / 'work' / 'demo_grid.png'))
    assert grid is not None and grid.shape[1] > grid.shape[0]


def test_prepare_data_keeps_data_generated_with_the_same_settings(tmp_path):
    prepare_data(str(tmp_path), TINY, nproc=1)
    image = tmp_path / 'gta' / 'images' / '00001.png'
    os.utime(image, (1, 1))
    prepare_data(str(tmp_path), TINY, nproc=1)
    assert image.stat().st_mtime == 1


def test_prepare_data_regenerates_when_the_settings_change(tmp_path):
    prepare_data(str(tmp_path), TINY, nproc=1)
    prepare_data(str(tmp_path), DataSpec(num_source=2, num_target_train=3, num_target_val=2),
                 nproc=1)
    assert sorted(p.name for p in (tmp_path / 'gta' / 'images').iterdir()) == \
        ['00001.png', '00002.png']


def test_data_stamp_names_the_palette_shift_only_when_it_is_set():
    # Stamps written before palette_shift existed must still match the default settings.
    assert 'palette_shift' not in TINY.as_dict()
    composed = DataSpec(num_source=3, num_target_train=3, num_target_val=2, palette_shift=0.2)
    assert composed.as_dict() == dict(TINY.as_dict(), palette_shift=0.2)


def test_prepare_data_refuses_folders_it_did_not_generate(tmp_path):
    (tmp_path / 'gta').mkdir()
    with pytest.raises(UserError, match='did not generate'):
        prepare_data(str(tmp_path), TINY, nproc=1)
    assert (tmp_path / 'gta').is_dir()


def test_data_root_options_point_each_dataset_at_its_folder_under_the_root(tmp_path):
    options = data_root_options(str(REPO / 'configs/demo/pcpr_synthetic.py'), str(tmp_path))
    assert sorted(options) == sorted([
        f'data.train.source.data_root={tmp_path}/gta/',
        f'data.train.target.data_root={tmp_path}/cityscapes/',
        f'data.val.data_root={tmp_path}/cityscapes/',
        f'data.test.data_root={tmp_path}/cityscapes/'])


def test_read_log_takes_the_last_miou_and_averages_plf_over_the_second_half(tmp_path):
    entries = [dict(mode='train', iter=10, **{'plf.acc_before': 0.1}),
               dict(mode='train', iter=20, **{'plf.acc_before': 0.5}),
               dict(mode='val', iter=2, mIoU=0.2),
               dict(mode='train', iter=30, **{'plf.acc_before': 0.6}),
               dict(mode='train', iter=40, **{'plf.acc_before': 0.7}),
               dict(mode='val', iter=2, mIoU=0.3)]
    lines = [json.dumps(dict(env_info='x'))] + [json.dumps(e) for e in entries]
    (tmp_path / '20260101_000000.log.json').write_text('\n'.join(lines) + '\n')
    result = read_log(str(tmp_path))
    assert result['mIoU'] == 0.3
    assert result['plf.acc_before'] == pytest.approx((0.6 + 0.7) / 2)  # iters > 40 / 2


def test_summarise_gives_mean_and_sample_std_in_percent():
    runs = [dict(method='mic', seed=s, mIoU=v) for s, v in enumerate((0.10, 0.20, 0.30))]
    summary = summarise(runs, ['mic', 'pcpr'])
    assert list(summary) == ['mic']
    assert summary['mic']['mean'] == pytest.approx(20.0)
    assert summary['mic']['std'] == pytest.approx(10.0)  # sqrt((100 + 0 + 100) / 2)


def _finished_run(work_dir, miou):
    work_dir.mkdir(parents=True)
    lines = [dict(mode='train', iter=i, **{'pl.q': 0.2}) for i in (300, 600)]
    lines.append(dict(mode='val', iter=600, mIoU=miou))
    (work_dir / '20260101_000000.log.json').write_text(
        '\n'.join(json.dumps(line) for line in lines) + '\n')


def test_benchmark_only_finished_summarises_finished_runs_and_trains_none(tmp_path, monkeypatch):
    for method, seed, miou in (('mic', 0, 0.20), ('mic', 1, 0.22), ('pcpr_fpc_only', 0, 0.21)):
        _finished_run(tmp_path / 'runs' / f'{method}_seed{seed}', miou)
    monkeypatch.setattr(benchmark, 'train', lambda *a, **k: pytest.fail('trained a run'))
    monkeypatch.setattr(benchmark, 'plot', lambda *a, **k: None)
    monkeypatch.setattr(benchmark, 'plot_paired', lambda *a, **k: False)
    summary = benchmark.main(['--methods', 'mic,pcpr_fpc_only', '--seeds', '0,1',
                              '--only-finished', '--out', str(tmp_path),
                              '--paired-with', 'mic,pcpr_fpc_only',
                              '--data-root', str(tmp_path / 'no_data')])
    assert summary['mic']['seeds'] == [0, 1] and summary['pcpr_fpc_only']['seeds'] == [0]
    assert summary['pcpr_fpc_only']['minus_mic']['diffs'] == pytest.approx([1.0])
    assert summary['mic']['minus_pcpr_fpc_only']['diffs'] == pytest.approx([-1.0])
    assert not (tmp_path / 'no_data').exists()  # nothing generated
    saved = json.loads((tmp_path / 'results.json').read_text())
    assert len(saved['runs']) == 3


def test_benchmark_only_finished_with_no_finished_run_keeps_the_earlier_results(tmp_path):
    (tmp_path / 'results.json').write_text('{"earlier": true}')
    with pytest.raises(UserError, match='none of the planned runs finished'):
        benchmark.main(['--methods', 'mic', '--seeds', '0', '--only-finished',
                        '--out', str(tmp_path)])
    assert json.loads((tmp_path / 'results.json').read_text()) == {'earlier': True}
