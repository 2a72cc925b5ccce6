"""tools/print_config.py: as a user runs it (subprocess) and its parts in-process."""
import os
import subprocess
import sys

import pytest

from mmseg.utils.errors import UserError
from tools import print_config

from configs_helpers import REPO

SCRIPT = os.path.join(REPO, 'tools', 'print_config.py')
PCPR_GTA = os.path.join(REPO, 'configs', 'pcpr', 'gtaHR2csHR_pcpr.py')


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_prints_the_resolved_pcpr_config():
    out = run('configs/pcpr/gtaHR2csHR_pcpr.py')
    assert out.returncode == 0, out.stderr
    # Values from three different levels of the _base_ chain.
    assert "type='PCPR'" in out.stdout
    assert "type='HRDAEncoderDecoder'" in out.stdout
    assert 'warmup_iters=1500' in out.stdout
    assert 'mixed_precision = None' in out.stdout


def test_missing_file_is_one_line_error_with_exit_1():
    out = run('configs/pcpr/no_such_config.py')
    assert out.returncode == 1
    assert out.stdout == ''
    assert 'Traceback' not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith('error:')]
    assert errors == ['error: config file not found: configs/pcpr/no_such_config.py']


def test_cfg_options_and_legacy_options_are_both_applied():
    args = print_config.parse_args([
        PCPR_GTA, '--cfg-options', 'uda.plf=None', 'seed=7', '--options',
        'uda.fpc.num_prototypes=5'
    ])
    cfg = print_config.load_config(args.config, {**args.options, **args.cfg_options})
    assert cfg.uda.plf is None
    assert cfg.seed == 7
    assert cfg.uda.fpc.num_prototypes == 5
    assert cfg.uda.fpc.proto_scale == 'lr'


def test_override_without_value_exits_1_with_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        print_config.parse_args([PCPR_GTA, '--cfg-options', 'seed'])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'key=value' in err


def test_unknown_flag_exits_1_with_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        print_config.parse_args([PCPR_GTA, '--bogus'])
    assert exc.value.code == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_override_into_a_non_dict_is_a_user_error():
    with pytest.raises(UserError, match='cannot apply override'):
        print_config.load_config(PCPR_GTA, {'seed.x': 1})


def test_missing_base_file_is_a_user_error(tmp_path):
    cfg = tmp_path / 'broken.py'
    cfg.write_text("_base_ = ['no_such_base.py']\n")
    with pytest.raises(UserError, match='cannot load config'):
        print_config.load_config(str(cfg))


def test_main_reports_user_errors_and_returns_1(capsys):
    assert print_config.main([PCPR_GTA, '--cfg-options', 'seed.x=1']) == 1
    assert capsys.readouterr().err.startswith('error: cannot apply override')
