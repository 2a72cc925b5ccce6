"""Mistakes a user can make end in one clear message (UserError), never in a stack trace."""
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mmseg.models.uda.uda_decorator import UDADecorator
from mmseg.utils.errors import UserError
from tools.train import cli as train_cli
from tools.train import main as train_main

from runner_helpers import CONFIG, REPO, demo_options, subprocess_env, train_command


def train(work_dir, *args):
    train_main([CONFIG, '--work-dir', str(work_dir), '--no-validate', *args])


def copy_data(demo_data, tmp_path):
    root = tmp_path / 'data'
    shutil.copytree(demo_data, root)
    return root


def test_cli_prints_one_error_line_without_traceback(demo_data, tmp_path):
    done = subprocess.run(train_command(CONFIG, '--work-dir', tmp_path,
                                        *demo_options(demo_data, **{'uda.alpah': 0.9})),
                          env=subprocess_env(), capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith('error: --cfg-options uda.alpah')
    assert 'Traceback' not in done.stderr


def test_run_experiments_refuses_override_typo_without_traceback(tmp_path):
    done = subprocess.run([sys.executable, 'run_experiments.py', '--config', CONFIG,
                           '--dry-run', '--cfg-options', 'runner.max_iter=3'], cwd=REPO,
                          env=subprocess_env(), capture_output=True, text=True)
    assert done.returncode == 1
    assert "error: --cfg-options runner.max_iter: the config has no key 'runner.max_iter'. " \
           "Did you mean 'runner.max_iters'?" in done.stderr
    assert 'Traceback' not in done.stderr


def test_override_typo_names_key_and_suggestion(demo_data, tmp_path):
    with pytest.raises(UserError, match=r"uda\.alpah.*Did you mean 'uda\.alpha'"):
        train(tmp_path, *demo_options(demo_data, **{'uda.alpah': 0.9}))


def test_typo_key_in_config_file_names_key_and_class(demo_data, tmp_path):
    cfg = tmp_path / 'typo.py'
    cfg.write_text(f'_base_ = [{CONFIG!r}]\nuda = dict(pseudo_treshold=0.9)\n')
    with pytest.raises(UserError, match=r"unknown config key 'pseudo_treshold' for PCPR.*"
                                        r"Did you mean 'pseudo_threshold'"):
        train_main([str(cfg), '--work-dir', str(tmp_path), *demo_options(demo_data)])


NESTED_TYPO = ("error: unknown config key 'uda.plf.use_consistncy'. "
               "Did you mean 'use_consistency'? Valid keys of uda.plf: use_consistency, ")


def test_cli_nested_key_typo_is_one_did_you_mean_line(tmp_path):
    done = subprocess.run(train_command(CONFIG, '--work-dir', tmp_path, '--cfg-options',
                                        'uda.plf.use_consistncy=False'),
                          env=subprocess_env(), capture_output=True, text=True)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and errors[0].startswith(NESTED_TYPO)
    assert done.stderr.strip().splitlines()[-1] == errors[0]
    assert 'Traceback' not in done.stderr


@pytest.mark.parametrize('typo', [{'uda.plf.use_consistncy': False}, {}])
def test_config_mistake_is_reported_before_missing_data(tmp_path, capsys, typo):
    """With a missing data root and a typo in a nested key the typo comes first: the model is
    built before the setup check. Without the typo the data error is reported."""
    missing = tmp_path / 'nowhere'
    options = demo_options(missing, **typo)
    with pytest.raises(SystemExit) as done:
        train_cli([CONFIG, '--work-dir', str(tmp_path / 'wd'), '--no-validate', *options])
    assert done.value.code == 1
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith('error:')]
    if typo:
        assert len(errors) == 1 and errors[0].startswith(NESTED_TYPO)
    else:
        assert errors[0].startswith('error: the setup check found')
        assert any(str(missing) in line for line in errors[1:])


def test_unknown_type_is_named(demo_data, tmp_path):
    with pytest.raises(UserError, match=r"unknown type 'mit_b9'.*Did you mean 'mit_b"):
        train(tmp_path, *demo_options(demo_data, **{'model.backbone.type': 'mit_b9'}))


def test_missing_data_root_is_named(demo_data, tmp_path):
    missing = tmp_path / 'nowhere' / 'gta'
    with pytest.raises(UserError, match=str(missing)):
        train(tmp_path, *demo_options(demo_data, **{'data.train.source.data_root': missing}))


def test_missing_pretrained_file_is_named(demo_data, tmp_path):
    missing = tmp_path / 'mit_b0.pth'
    with pytest.raises(UserError, match=f'pretrained backbone weights not found: {missing}'):
        train(tmp_path, *demo_options(demo_data, **{'model.pretrained': missing}))


def test_pretrained_file_of_another_model_is_refused(demo_data, tmp_path):
    wrong = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7)}, wrong)
    with pytest.raises(UserError, match=rf'{wrong} does not match .*missing keys'):
        train(tmp_path, *demo_options(demo_data, **{'model.pretrained': wrong}))


def test_missing_resume_file_is_named(demo_data, tmp_path):
    with pytest.raises(UserError, match='resume_from: checkpoint .*nothing.pth does not exist'):
        train(tmp_path, '--resume-from', str(tmp_path / 'nothing.pth'), *demo_options(demo_data))


def test_corrupt_image_in_a_worker_names_the_file(demo_data, tmp_path):
    root = copy_data(demo_data, tmp_path)
    for path in (root / 'gta' / 'images').glob('*.png'):
        path.write_bytes(b'not an image')
    with pytest.raises(UserError) as err:
        train(tmp_path / 'wd', *demo_options(root, workers=1))
    message = str(err.value)
    assert message.startswith('cannot decode image ') and 'gta/images' in message
    assert 'Traceback' not in message


def test_label_with_unknown_ids_names_the_file(demo_data, tmp_path):
    root = copy_data(demo_data, tmp_path)
    for path in (root / 'gta' / 'labels').glob('*_labelTrainIds.png'):
        shape = np.asarray(Image.open(path)).shape
        Image.fromarray(np.full(shape, 33, np.uint8)).save(path)
    with pytest.raises(UserError, match=r'_labelTrainIds\.png contains ids \[33\]'):
        train(tmp_path / 'wd', *demo_options(root))


def test_out_of_memory_suggests_smaller_settings(demo_data, tmp_path, monkeypatch):
    def out_of_memory(self, data_batch, optimizer, **kwargs):
        raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')

    monkeypatch.setattr(UDADecorator, 'train_step', out_of_memory)
    with pytest.raises(UserError, match=r"out of GPU memory in training iteration 1\. Try "
                                        r"mixed_precision='bf16', smaller crops .*"
                                        r"samples_per_gpu=1"):
        train(tmp_path, *demo_options(demo_data))
