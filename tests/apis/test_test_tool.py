"""The test loops (mmseg.apis.test) and tools/test.py on tiny Cityscapes-layout data."""
import os
import socket
import subprocess
import sys

import mmcv
import numpy as np
import pytest
import torch
from PIL import Image

from mmseg.apis.inference import inference_segmentor, init_segmentor
from mmseg.apis.test import single_gpu_test
from mmseg.core.evaluation.class_names import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from mmseg.datasets import build_dataloader
from mmseg.utils.device import ModelOnDevice
from mmseg.utils.errors import UserError
from tools.test import cli, main, update_legacy_cfg

from apis_helpers import (REPO, FixedPredictor, H, W, miou_by_loop, multi_gpu_worker,
                          save_uda_checkpoint, val_dataset, write_cityscapes_val,
                          write_tiny_config)


def _labels():
    """Two label maps over classes 0-2 with some ignored pixels."""
    rng = np.random.RandomState(1)
    labels = {}
    for stem in ('aachen_000000_000019', 'bonn_000001_000019'):
        label = rng.randint(0, 3, (H, W)).astype(np.uint8)
        label[0, :5] = 255
        labels[stem] = label
    return labels


@pytest.fixture
def val_data(tmp_path):
    """(dataset, loader, {ori_filename: gt}, {ori_filename: prediction})."""
    gts = write_cityscapes_val(tmp_path / 'cs', _labels())
    rng = np.random.RandomState(2)
    preds = {name: np.where(rng.rand(H, W) < 0.7, gt, rng.randint(0, 4, (H, W))).astype(np.int64)
             for name, gt in gts.items()}
    for pred in preds.values():
        pred[pred == 255] = 0
    dataset = val_dataset(tmp_path / 'cs')
    loader = build_dataloader(dataset, samples_per_gpu=1, workers_per_gpu=0, dist=False,
                              shuffle=False)
    return dataset, loader, gts, preds


def test_single_gpu_test_streams_pre_eval_stats_giving_the_expected_miou(val_data):
    dataset, loader, gts, preds = val_data
    model = ModelOnDevice(FixedPredictor(preds), 'cpu')
    results = single_gpu_test(model, loader)
    assert len(results) == len(dataset) and isinstance(results[0], (tuple, list))
    names = sorted(gts)
    expected = miou_by_loop([preds[n] for n in names], [gts[n] for n in names], 19)
    assert dataset.evaluate(results, 'mIoU')['mIoU'] == pytest.approx(expected, abs=1e-9)


def test_single_gpu_test_without_pre_eval_returns_the_maps(val_data):
    dataset, loader, gts, preds = val_data
    results = single_gpu_test(ModelOnDevice(FixedPredictor(preds), 'cpu'), loader,
                              pre_eval=False)
    for result, name in zip(results, sorted(gts)):
        np.testing.assert_array_equal(result, preds[name])


def test_show_dir_with_opacity_1_writes_one_paletted_train_id_png_per_image(val_data, tmp_path):
    dataset, loader, gts, preds = val_data
    out_dir = tmp_path / 'preds'
    single_gpu_test(ModelOnDevice(FixedPredictor(preds), 'cpu'), loader, out_dir=str(out_dir),
                    opacity=1)
    written = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob('*.png'))
    assert written == sorted(gts)
    for name in written:
        png = Image.open(out_dir / name)
        assert png.mode == 'P'
        np.testing.assert_array_equal(np.asarray(png), preds[name])
        flat_palette = [v for rgb in CITYSCAPES_PALETTE for v in rgb]
        assert png.getpalette()[:len(flat_palette)] == flat_palette


def test_attention_output_is_written_as_grayscale_times_255(val_data, tmp_path):
    dataset, loader, gts, _ = val_data
    rng = np.random.RandomState(3)
    attention = {name: rng.rand(H, W) for name in gts}
    model = FixedPredictor(attention)
    model.decode_head = type('Head', (), {'debug_output_attention': True})()
    out_dir = tmp_path / 'preds_ATT'
    single_gpu_test(ModelOnDevice(model, 'cpu'), loader, out_dir=str(out_dir), opacity=1,
                    pre_eval=False)
    for name, att in attention.items():
        gray = np.asarray(Image.open(out_dir / name))
        assert gray.dtype == np.uint8 and gray.ndim == 2
        np.testing.assert_array_equal(gray, np.rint(att * 255).astype(np.uint8))


def test_multi_gpu_test_on_two_gloo_processes_matches_single_process(tmp_path):
    rng = np.random.RandomState(4)
    gts = write_cityscapes_val(tmp_path / 'cs', {
        f'city_00000{i}_000019': rng.randint(0, 3, (H, W)) for i in range(3)})
    preds = {name: rng.randint(0, 3, (H, W)) for name in gts}
    collect_dir = tmp_path / 'user_tmpdir'
    collect_dir.mkdir()
    (collect_dir / 'keep.pth').write_bytes(b'checkpoint')
    out_file = tmp_path / 'results.pkl'
    # fork: the children reuse the imported modules (spawn would re-import torch twice).
    torch.multiprocessing.start_processes(
        multi_gpu_worker, nprocs=2, start_method='fork',
        args=(2, _free_port(), str(tmp_path / 'cs'), preds, str(collect_dir), str(out_file)))
    distributed = mmcv.load(str(out_file))
    loader = build_dataloader(val_dataset(tmp_path / 'cs'), samples_per_gpu=1,
                              workers_per_gpu=0, dist=False, shuffle=False)
    single = single_gpu_test(ModelOnDevice(FixedPredictor(preds), 'cpu'), loader)
    assert len(distributed) == len(single) == 3
    for a, b in zip(distributed, single):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert sorted(p.name for p in collect_dir.iterdir()) == ['keep.pth']


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_result_modes_are_mutually_exclusive(val_data):
    _, loader, _, preds = val_data
    with pytest.raises(ValueError, match='mutually exclusive'):
        single_gpu_test(ModelOnDevice(FixedPredictor(preds), 'cpu'), loader, pre_eval=True,
                        efficient_test=True)


# ---- tools/test.py end to end: real mit_b0 segmentors, MIC-layout checkpoints ----

E2E_H, E2E_W = 64, 128


@pytest.fixture(scope='module')
def e2e(tmp_path_factory):
    """Tiny Cityscapes val split, DAFormer and HRDA configs, and their UDA checkpoints."""
    root = tmp_path_factory.mktemp('e2e')
    rng = np.random.RandomState(0)
    gts = write_cityscapes_val(root / 'cs', {
        'aachen_000000_000019': rng.randint(0, 3, (E2E_H, E2E_W)),
        'bonn_000001_000019': rng.randint(0, 3, (E2E_H, E2E_W))})
    paths = dict(root=root, gts=gts)
    for name, hrda in (('daformer', False), ('hrda', True)):
        cfg = write_tiny_config(root / f'{name}.py', root / 'cs', hrda=hrda)
        save_uda_checkpoint(cfg, root / f'{name}.pth')
        paths[name] = (cfg, str(root / f'{name}.pth'))
    return paths


def _run_tool(*args):
    return subprocess.run([sys.executable, '-m', 'tools.test', *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))


@pytest.mark.slow
def test_tool_prints_the_miou_tables_and_writes_one_png_per_image(e2e):
    cfg, ckpt = e2e['daformer']
    out_dir = e2e['root'] / 'preds'
    proc = _run_tool(cfg, ckpt, '--eval', 'mIoU', '--show-dir', out_dir, '--opacity', '1')
    assert proc.returncode == 0, proc.stderr
    assert 'per class results:' in proc.stdout and '| aAcc | mIoU | mAcc |' in proc.stdout
    assert "['mIoU', 'IoU.road'," in proc.stdout
    written = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob('*.png'))
    assert written == sorted(e2e['gts'])
    png = Image.open(out_dir / written[0])
    assert png.mode == 'P' and png.size == (E2E_W, E2E_H)


@pytest.mark.slow
def test_tool_missing_checkpoint_exits_1_with_one_message(e2e):
    cfg, _ = e2e['daformer']
    proc = _run_tool(cfg, e2e['root'] / 'missing.pth', '--eval', 'mIoU')
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == \
        f"error: checkpoint file {e2e['root'] / 'missing.pth'} does not exist."


def _predictions(tmp_path, *args):
    """Run tools/test.py in-process with --out; the pickled (H, W) predictions."""
    out = tmp_path / 'preds.pkl'
    cli([*map(str, args), '--out', str(out)])
    return mmcv.load(str(out))


def test_which_ema_model_tests_the_teacher_weights(e2e, tmp_path):
    cfg, ckpt = e2e['daformer']
    student = _predictions(tmp_path, cfg, ckpt)
    teacher = _predictions(tmp_path, cfg, ckpt, '--which', 'ema_model')
    assert len(student) == len(teacher) == 2
    assert student[0].shape == (E2E_H, E2E_W)
    assert any((s != t).any() for s, t in zip(student, teacher))


def test_hrda_out_lr_and_hr_give_different_single_branch_predictions(e2e, tmp_path):
    cfg, ckpt = e2e['hrda']
    fused = _predictions(tmp_path, cfg, ckpt)
    lr = _predictions(tmp_path, cfg, ckpt, '--hrda-out', 'LR')
    hr = _predictions(tmp_path, cfg, ckpt, '--hrda-out', 'HR')
    assert all(p.shape == (E2E_H, E2E_W) for p in fused + lr + hr)
    assert any((a != b).any() for a, b in zip(lr, hr))


def test_hrda_out_att_writes_grayscale_attention_maps(e2e, tmp_path):
    cfg, ckpt = e2e['hrda']
    out_dir = tmp_path / 'preds_ATT'
    cli([cfg, ckpt, '--show-dir', str(out_dir), '--opacity', '1', '--hrda-out', 'ATT'])
    for name in e2e['gts']:
        png = Image.open(out_dir / name)
        assert png.mode == 'L' and png.size == (E2E_W, E2E_H)


def test_checkpoint_of_another_architecture_is_a_user_error(e2e, capsys):
    cfg, _ = e2e['hrda']
    _, daformer_ckpt = e2e['daformer']
    with pytest.raises(SystemExit) as exit_info:
        cli([cfg, daformer_ckpt, '--eval', 'mIoU'])
    assert exit_info.value.code == 1
    assert 'another architecture' in capsys.readouterr().err


def test_hrda_out_on_a_plain_segmentor_is_a_user_error(e2e):
    cfg, ckpt = e2e['daformer']
    with pytest.raises(UserError, match='needs an HRDA model'):
        main([cfg, ckpt, '--eval', 'mIoU', '--hrda-out', 'LR'])


def test_efficient_test_gives_the_same_miou_and_removes_its_files(e2e, tmp_path, monkeypatch,
                                                                   capsys):
    cfg, ckpt = e2e['daformer']
    monkeypatch.chdir(tmp_path)
    main([cfg, ckpt, '--eval', 'mIoU'])
    streamed = capsys.readouterr().out.splitlines()[-1]
    main([cfg, ckpt, '--eval', 'mIoU', '--eval-options', 'efficient_test=True'])
    assert capsys.readouterr().out.splitlines()[-1] == streamed
    assert not (tmp_path / '.efficient_test').exists()


def test_format_only_writes_train_id_pngs_named_after_the_images(e2e, tmp_path):
    cfg, ckpt = e2e['daformer']
    prefix = tmp_path / 'labelTrainIds'
    main([cfg, ckpt, '--format-only', '--eval-options', f'imgfile_prefix={prefix}',
          'to_label_id=False'])
    expected = sorted(name.split('/')[-1] for name in e2e['gts'])
    assert sorted(p.name for p in prefix.iterdir()) == expected
    assert Image.open(prefix / expected[0]).mode == 'P'


def test_format_only_without_an_output_folder_is_a_user_error(e2e):
    cfg, ckpt = e2e['daformer']
    with pytest.raises(UserError, match='imgfile_prefix'):
        main([cfg, ckpt, '--format-only'])


@pytest.mark.parametrize('options', [['--aug-test'], ['--inference-mode', 'whole'],
                                     ['--inference-mode', 'slide', '--cfg-options',
                                      'crop_size=[32,64]']])
def test_test_time_options_keep_one_full_size_prediction_per_image(e2e, tmp_path, options):
    cfg, ckpt = e2e['daformer']
    preds = _predictions(tmp_path, cfg, ckpt, *options)
    assert [p.shape for p in preds] == [(E2E_H, E2E_W)] * 2


def test_test_set_reads_the_test_split(e2e):
    cfg, ckpt = e2e['daformer']
    with pytest.raises(UserError, match='leftImg8bit/test'):
        main([cfg, ckpt, '--show-dir', 'unused', '--test-set'])


def test_update_legacy_cfg_renames_old_classes_and_restores_tuples():
    cfg = mmcv.Config(dict(
        model=dict(type='MultiResEncoderDecoder',
                   backbone=dict(type='mit_b0', ema_drop_path_rate=0.1),
                   decode_head=dict(type='UniHead', decoder_params=dict(
                       fusion_cfg=dict(type='aspp', fusion='x')))),
        data=dict(test=dict(pipeline=[{}, dict(img_scale=[2048, 1024])]),
                  val=dict(pipeline=[{}, dict(img_scale=[1024, 512])]))))
    update_legacy_cfg(cfg)
    assert cfg.model.type == 'HRDAEncoderDecoder'
    assert cfg.model.decode_head.type == 'DAFormerHead'
    assert 'fusion' not in cfg.model.decode_head.decoder_params.fusion_cfg
    assert 'ema_drop_path_rate' not in cfg.model.backbone
    assert cfg.data.test.pipeline[1].img_scale == (2048, 1024)
    assert cfg.data.val.pipeline[1].img_scale == (1024, 512)


def test_hrda_wrapper_type_is_renamed():
    cfg = mmcv.Config(dict(model=dict(type='HRDAEncoderDecoder', backbone=dict(),
                                      decode_head=dict(type='MultiResAttentionWrapper')),
                           data=dict()))
    assert update_legacy_cfg(cfg).model.decode_head.type == 'HRDAHead'


def test_inference_segmentor_matches_the_test_tool_on_a_file_and_an_array(e2e, tmp_path):
    cfg, ckpt = e2e['daformer']
    tool_preds = _predictions(tmp_path, cfg, ckpt)
    model = init_segmentor(cfg, ckpt, device='cpu')
    assert tuple(model.CLASSES) == CITYSCAPES_CLASSES
    first = str(e2e['root'] / 'cs' / 'leftImg8bit' / 'val' / sorted(e2e['gts'])[0])
    (from_file,) = inference_segmentor(model, first)
    (from_array,) = inference_segmentor(model, [mmcv.imread(first)])
    np.testing.assert_array_equal(from_file, tool_preds[0])
    np.testing.assert_array_equal(from_array, tool_preds[0])
