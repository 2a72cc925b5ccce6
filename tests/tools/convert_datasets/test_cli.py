"""The converter scripts run as users run them: subprocesses on generated data."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _run(script, *args):
    return subprocess.run([sys.executable, str(REPO / 'tools' / 'convert_datasets' / script),
                           *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


@pytest.mark.parametrize('script, dataset, pattern, num_outputs, num_stats', [
    ('gta.py', 'gta', 'labels/*_labelTrainIds.png', 9, 9),
    ('cityscapes.py', 'cityscapes', 'gtFine/*/*/*_gtFine_labelTrainIds.png', 11, 9),  # train: 9
    ('synthia.py', 'synthia', 'GT/LABELS/*_labelTrainIds.png', 6, 6),
])
def test_converter_script_converts_generated_data(copy_dataset, script, dataset, pattern,
                                                  num_outputs, num_stats):
    root = copy_dataset(dataset)
    proc = _run(script, root, '--nproc', 2)
    assert proc.returncode == 0, proc.stderr
    assert len(list(root.glob(pattern))) == num_outputs
    assert len(json.loads((root / 'sample_class_stats.json').read_text())) == num_stats


def test_converter_script_prints_user_error_without_traceback(tmp_path):
    proc = _run('gta.py', tmp_path / 'missing')
    assert proc.returncode == 1
    assert f'GTA folder not found: {tmp_path / "missing"}' in proc.stderr
    assert 'Traceback' not in proc.stderr
