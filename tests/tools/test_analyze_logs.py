"""tools/analyze_logs.py on hand-written mmcv JSON logs."""
import json

import numpy as np
import pytest
from PIL import Image

from mmseg.utils.errors import UserError
from tools.analyze_logs import check_keys, cli, load_json_log, main


def _write_log(path, lines):
    path.write_text('\n'.join(json.dumps(line) for line in lines) + '\n')
    return str(path)


@pytest.fixture
def json_log(tmp_path):
    """Meta line, two train lines and the eval line mmcv writes after iteration 100."""
    return _write_log(tmp_path / 'run.log.json', [
        dict(env_info='x', seed=0, exp_name='cfg.py'),
        {'mode': 'train', 'epoch': 1, 'iter': 50, 'lr': 1e-5, 'decode.loss_seg': 2.0,
         'mix.decode.loss_seg': 1.5, 'plf.consistent_ratio': 0.8, 'time': 0.5},
        {'mode': 'train', 'epoch': 1, 'iter': 100, 'lr': 2e-5, 'decode.loss_seg': 1.0,
         'mix.decode.loss_seg': 0.5, 'plf.consistent_ratio': 0.9, 'time': 0.5},
        {'mode': 'val', 'epoch': 1, 'iter': 3, 'lr': 2e-5, 'aAcc': 0.9, 'mIoU': 0.42},
    ])


def test_train_keys_are_read_at_their_iterations(json_log):
    curves = load_json_log(json_log)
    assert curves['decode.loss_seg'] == ([50, 100], [2.0, 1.0])
    assert curves['plf.consistent_ratio'] == ([50, 100], [0.8, 0.9])


def test_val_metrics_are_placed_at_the_preceding_training_iteration(json_log):
    assert load_json_log(json_log)['mIoU'] == ([100], [0.42])


def test_plot_writes_a_png(json_log, tmp_path):
    out = tmp_path / 'curves.png'
    main([json_log, json_log, '--keys', 'decode.loss_seg', 'mix.decode.loss_seg', 'mIoU',
          '--legend', 'a', 'b', '--title', 'runs', '--out', str(out)])
    img = np.asarray(Image.open(out))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_missing_key_error_lists_the_available_keys(json_log):
    with pytest.raises(UserError) as err:
        check_keys([load_json_log(json_log)], [json_log], ['decode.loss_sem'])
    message = str(err.value)
    assert 'decode.loss_sem' in message
    assert 'decode.loss_seg' in message and 'mIoU' in message


def test_cli_missing_key_exits_1_with_one_line(json_log, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli([json_log, '--keys', 'nope', '--out', str(tmp_path / 'c.png')])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'nope' in err and err.count('\n') == 1
    assert not (tmp_path / 'c.png').exists()


def test_legend_count_must_match_logs(json_log, tmp_path):
    with pytest.raises(UserError, match='one name per log'):
        main([json_log, '--legend', 'a', 'b', '--out', str(tmp_path / 'c.png')])


def test_pcpr_preset_plots_the_pcpr_curves_every_log_has(tmp_path):
    from tools.analyze_logs import preset_keys
    lines = [{'mode': 'train', 'epoch': 1, 'iter': i, 'plf.kept': 0.6, 'plf.acc_before': 0.6,
              'plf.acc_after': 0.7, 'src.fpc.mean_sim': 0.5, 'fpc.inter_class_sim': 0.1}
             for i in (50, 100)]
    log_a = _write_log(tmp_path / 'a.log.json', lines)
    log_b = _write_log(tmp_path / 'b.log.json', [dict(line, **{'plf.m_proto': 0.9})
                                                  for line in lines])
    logs = [load_json_log(log_a), load_json_log(log_b)]
    assert preset_keys(logs, 'pcpr') == ['plf.kept', 'plf.acc_before', 'plf.acc_after',
                                         'src.fpc.mean_sim', 'fpc.inter_class_sim']
    out = tmp_path / 'pcpr.png'
    main([log_a, log_b, '--preset', 'pcpr', '--out', str(out)])
    assert out.exists()


def test_pcpr_preset_on_a_mic_log_is_one_clear_error(json_log, tmp_path):
    with pytest.raises(UserError, match='PCPR runs'):
        main([json_log, '--preset', 'pcpr', '--out', str(tmp_path / 'x.png')])
