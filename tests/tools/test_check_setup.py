"""tools/check_setup.py passes a good layout and names each broken one with its fix."""
import json
import shutil

import mmcv
import numpy as np
import pytest
import torch
from PIL import Image

from mmseg.apis.config_checks import load_config
from mmseg.apis.setup_check import check_setup

from tools_helpers import DEMO_CONFIG, REPO, data_options, run_tool

pytestmark = pytest.mark.slow


@pytest.fixture
def data(synthetic_root, tmp_path):
    """A private copy of the synthetic data that a test may break."""
    return shutil.copytree(synthetic_root, tmp_path / 'data')


def problems_of(root, *extra):
    cfg = load_config(str(DEMO_CONFIG))
    cfg.merge_from_dict(dict(o.split('=', 1) for o in [*data_options(root), *extra]))
    cfg.data.train.rare_class_sampling.min_pixels = 1
    cfg.work_dir = str(root)
    return check_setup(cfg)


def test_good_layout_passes_with_counts_and_exit_0(data):
    result = run_tool([REPO / 'tools/check_setup.py', DEMO_CONFIG, '--cfg-options',
                       *data_options(data)])
    assert result.returncode == 0, result.stderr[-2000:]
    assert f'data.train.source: 9 images in {data}/gta/images, 9 with labels in ' \
           f'{data}/gta/labels' in result.stdout
    assert 'data.val: 2 images' in result.stdout and 'setup OK.' in result.stdout


def _remove_target_folder(root):
    shutil.rmtree(root / 'cityscapes' / 'leftImg8bit' / 'train')


def _remove_stats(root):
    (root / 'gta' / 'sample_class_stats.json').unlink()


def _remove_a_label(root):
    (root / 'gta' / 'labels' / '00003_labelTrainIds.png').unlink()


def _label_id_out_of_range(root):
    path = next((root / 'cityscapes' / 'gtFine' / 'val').glob('*/*_labelTrainIds.png'))
    label = np.array(Image.open(path))
    label[0, 0] = 40
    Image.fromarray(label).save(path)


def _stats_disagree_with_labels(root):
    path = root / 'gta' / 'sample_class_stats.json'
    stats = json.loads(path.read_text())
    stats[0]['0'] = stats[0].get('0', 0) + 1000
    path.write_text(json.dumps(stats))


@pytest.mark.parametrize('breakage, extra, expected', [
    (_remove_target_folder, (), 'data.train.target: img_dir '),
    (_remove_stats, (), 'rare class sampling needs '),
    (_remove_a_label, (), '1 of 9 images have no label file, e.g. image '),
    (_label_id_out_of_range, (), 'contains ids [40] outside [0, 19)'),
    (_stats_disagree_with_labels, (), 'sample_class_stats.json does not match label '),
    (None, ('model.pretrained=MISSING.pth',), 'pretrained backbone weights not found'),
    (None, ('model.pretrained=WRONG.pth',), 'does not match mit_b0'),
], ids=['missing_folder', 'missing_stats', 'unpaired_image', 'label_ids', 'stale_stats',
        'missing_pretrained', 'wrong_pretrained'])
def test_broken_layout_is_reported_with_its_fix(breakage, extra, expected, data):
    if breakage is not None:
        breakage(data)
    extra = tuple(e.replace('MISSING', str(data / 'missing')).replace('WRONG', str(data / 'x'))
                  for e in extra)
    torch.save({'patch_embed1.proj.weight': torch.zeros(1)}, data / 'x.pth')
    problems = problems_of(data, *extra)
    assert len(problems) == 1 and expected in problems[0], problems


def test_broken_layout_exits_1_with_one_error_line_per_problem(data):
    _remove_stats(data)
    _label_id_out_of_range(data)
    result = run_tool([REPO / 'tools/check_setup.py', DEMO_CONFIG, '--cfg-options',
                       *data_options(data)])
    errors = [line for line in result.stderr.splitlines() if line.startswith('error: ')]
    assert result.returncode == 1 and len(errors) == 2, result.stderr[-2000:]
    assert 'run `python tools/convert_datasets/gta.py`' in errors[-1]
    assert 'Traceback' not in result.stderr


def test_training_starts_with_the_cheap_check_and_can_skip_it(data, tmp_path):
    _remove_stats(data)
    args = [REPO / 'tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path / 'wd',
            '--cfg-options', *data_options(data), 'runner.max_iters=1']
    result = run_tool(args)
    assert result.returncode == 1
    assert 'the setup check found 1 problem(s)' in result.stderr
    skipped = run_tool(args[:4] + ['--no-check-setup'] + args[4:])
    assert skipped.returncode == 1 and 'setup check' not in skipped.stderr
    assert 'rare class sampling needs' in skipped.stderr


def test_wandb_hook_without_the_package_is_reported(data, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, 'wandb', None)  # `import wandb` raises ImportError
    problems = problems_of(data, 'log_config.hooks.1.type=WandbLoggerHook')
    assert problems == ['log_config.hooks has WandbLoggerHook but wandb is not installed: '
                        '`pip install wandb` (or remove the hook).']
