"""mFscore (MMSeg 0.x's precision/recall/F-score) and the official Cityscapes evaluation."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mmseg.core.evaluation.metrics import eval_metrics, f_score
from mmseg.datasets import CityscapesDataset
from mmseg.utils.errors import UserError

# Cityscapes train id -> label id for the classes used below (cityscapesscripts' labels.py).
LABEL_ID = {0: 7, 1: 8, 2: 11, 13: 26}


def test_fscore_precision_recall_per_class_by_hand():
    pred = np.array([[0, 0, 1, 1], [2, 2, 2, 0]])
    gt = np.array([[0, 1, 1, 1], [2, 2, 255, 1]])
    # Ignored pixel dropped. class 0: TP 1, pred 3, GT 1; class 1: TP 2, pred 2, GT 4;
    # class 2: TP 2, pred 2 (one on the ignored pixel is dropped), GT 2.
    out = eval_metrics([pred], [gt], num_classes=3, metrics='mFscore')
    precision = np.array([1 / 3, 2 / 2, 2 / 2])
    recall = np.array([1 / 1, 2 / 4, 2 / 2])
    assert np.allclose(out['Precision'], precision)
    assert np.allclose(out['Recall'], recall)
    assert np.allclose(out['Fscore'], 2 * precision * recall / (precision + recall))
    assert np.isclose(out['aAcc'], 5 / 7)


def test_fbeta_weights_recall_by_beta_squared():
    p, r = torch.tensor([0.5]), torch.tensor([1.0])
    assert torch.allclose(f_score(p, r, beta=2), torch.tensor([5 * 0.5 / (4 * 0.5 + 1)]))
    assert torch.allclose(f_score(p, r, beta=1), torch.tensor([2 * 0.5 / 1.5]))


def _save(array, path):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def write_val_set(root, gts: dict, with_label_ids: bool = True) -> CityscapesDataset:
    """Images, train-id, label-id and instance-id maps of Cityscapes' val layout under root."""
    lut = np.full(256, 255, dtype=np.uint8)
    for train_id, label_id in LABEL_ID.items():
        lut[train_id] = label_id
    for stem, gt in gts.items():
        city = stem.split('_')[0]
        gt = np.asarray(gt, dtype=np.uint8)
        _save(np.zeros(gt.shape + (3, )), f'{root}/leftImg8bit/val/{city}/{stem}_leftImg8bit.png')
        _save(gt, f'{root}/gtFine/val/{city}/{stem}_gtFine_labelTrainIds.png')
        if with_label_ids:
            # No thing instances: the instance map equals the label-id map.
            _save(lut[gt], f'{root}/gtFine/val/{city}/{stem}_gtFine_labelIds.png')
            _save(lut[gt], f'{root}/gtFine/val/{city}/{stem}_gtFine_instanceIds.png')
    return CityscapesDataset(pipeline=[], data_root=str(root), img_dir='leftImg8bit/val',
                             ann_dir='gtFine/val', test_mode=True)


GTS = {'aachen_000000_000019': [[0, 0, 1, 1], [13, 13, 2, 2]],
       'bremen_000001_000019': [[0, 0, 0, 1], [13, 2, 2, 2]]}
PREDS = [np.array([[0, 1, 1, 1], [13, 0, 2, 2]]), np.array([[0, 0, 0, 0], [13, 13, 2, 2]])]


def test_official_cityscapes_score_equals_the_direct_iou(tmp_path, monkeypatch):
    # The user's Cityscapes folder must not be touched: point the variable somewhere empty.
    monkeypatch.setenv('CITYSCAPES_DATASET', str(tmp_path / 'elsewhere'))
    dataset = write_val_set(tmp_path / 'cs', GTS)
    prefix = tmp_path / 'label_id_preds'
    result = dataset.evaluate(PREDS, 'cityscapes', imgfile_prefix=str(prefix))
    # Direct counts over both images (no ignored pixels): per class TP / (TP + FP + FN).
    iou = {'road': 4 / 7, 'sidewalk': 2 / 4, 'building': 4 / 5, 'car': 2 / 4}
    assert result['classScores']['road'] == pytest.approx(iou['road'])
    assert result['classScores']['car'] == pytest.approx(iou['car'])
    assert result['averageScoreClasses'] == pytest.approx(np.mean(list(iou.values())))
    # The label-id PNGs are kept in imgfile_prefix, in label ids.
    written = np.array(Image.open(prefix / 'aachen_000000_000019_leftImg8bit.png'))
    assert written.tolist() == [[7, 8, 8, 8], [26, 7, 11, 11]]
    assert not (tmp_path / 'elsewhere').exists()


def test_cityscapes_and_miou_in_one_call_agree(tmp_path):
    dataset = write_val_set(tmp_path / 'cs', GTS)
    result = dataset.evaluate(PREDS, ['cityscapes', 'mIoU', 'mFscore'])
    assert result['mIoU'] == pytest.approx(result['averageScoreClasses'], abs=5e-5)
    assert result['Fscore.car'] == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3), abs=5e-5)


def test_cityscapes_metric_without_label_id_files_names_the_fix(tmp_path):
    dataset = write_val_set(tmp_path / 'cs', GTS, with_label_ids=False)
    with pytest.raises(UserError, match='_gtFine_labelIds.png'):
        dataset.evaluate(PREDS, 'cityscapes')


def test_unknown_metric_is_a_user_error(tmp_path):
    dataset = write_val_set(tmp_path / 'cs', GTS)
    with pytest.raises(UserError, match="'mAP'"):
        dataset.evaluate(PREDS, 'mAP')


def test_eval_hook_with_the_official_metric_keeps_maps_and_logs_its_averages(tmp_path,
                                                                               monkeypatch):
    """`evaluation=dict(metric=['cityscapes', 'mIoU'])` during training: the hook keeps the
    prediction maps (the script reads them), logs the four averages and mIoU, and leaves the
    confusion matrix and per-class tables out of the log."""
    from types import SimpleNamespace

    from mmcv.runner import LogBuffer

    from mmseg.core.evaluation import EvalHook
    from mmseg.utils import get_root_logger
    monkeypatch.setenv('CITYSCAPES_DATASET', str(tmp_path / 'elsewhere'))
    dataset = write_val_set(tmp_path / 'cs', GTS)
    hook = EvalHook(torch.utils.data.DataLoader(dataset), interval=1,
                    metric=['cityscapes', 'mIoU'], save_best='averageScoreClasses',
                    rule='greater')
    assert hook.pre_eval is False
    assert EvalHook(torch.utils.data.DataLoader(dataset), metric='mIoU').pre_eval is True
    runner = SimpleNamespace(logger=get_root_logger(), log_buffer=LogBuffer())
    score = hook.evaluate(runner, PREDS)
    logged = runner.log_buffer.output
    assert score == pytest.approx(np.mean([4 / 7, 2 / 4, 4 / 5, 2 / 4]))
    assert logged['averageScoreClasses'] == score
    assert {'averageScoreCategories', 'mIoU', 'IoU.car'} <= set(logged)
    assert not {'confMatrix', 'classScores', 'priors', 'labels'} & set(logged)


def test_eval_hook_rejects_the_official_metric_on_another_dataset_before_training(tmp_path):
    from mmseg.core.evaluation import EvalHook
    from mmseg.datasets import CustomDataset
    _save(np.zeros((2, 2, 3)), f'{tmp_path}/img/a.png')
    _save(np.zeros((2, 2)), f'{tmp_path}/ann/a.png')
    dataset = CustomDataset(pipeline=[], img_dir=str(tmp_path / 'img'), img_suffix='.png',
                            ann_dir=str(tmp_path / 'ann'), test_mode=True)
    with pytest.raises(UserError, match="cityscapes.*mIoU"):
        EvalHook(torch.utils.data.DataLoader(dataset), metric='cityscapes')
