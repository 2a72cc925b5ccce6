"""UDADataset: index mapping and the item/batch layout (the keys the UDA step reads)."""
import numpy as np
import torch
from mmcv.parallel import collate

from mmseg.datasets import build_dataloader, build_dataset
from mmseg.datasets.pipelines.formatting import DEFAULT_META_KEYS

from datasets_helpers import make_cityscapes, make_gta, train_pipeline


def _uda_cfg(tmp_path, target_collect=('img',), target_pipeline_ann=False, **extra):
    source = dict(type='GTADataset', data_root=make_gta(tmp_path / 'gta', n=3),
                  img_dir='images', ann_dir='labels', pipeline=train_pipeline())
    target = dict(type='CityscapesDataset', data_root=make_cityscapes(tmp_path / 'cs', n=2),
                  img_dir='leftImg8bit/train', ann_dir='gtFine/train',
                  crop_pseudo_margins=[2, 2, 2, 2], valid_mask_size=[16, 32],
                  pipeline=train_pipeline(collect=target_collect, load_ann=target_pipeline_ann))
    return dict(type='UDADataset', source=source, target=target, **extra)


def test_index_pairs_source_div_and_target_mod(tmp_path):
    dataset = build_dataset(_uda_cfg(tmp_path))
    assert len(dataset) == 3 * 2
    item = dataset[5]  # source 5 // 2 = 2, target 5 % 2 = 1
    assert item['img_metas'].data['ori_filename'] == '00002.png'
    assert item['target_img_metas'].data['ori_filename'] == \
        'city/city_000001_000019_leftImg8bit.png'


def test_collated_batch_matches_the_contract(tmp_path):
    dataset = build_dataset(_uda_cfg(tmp_path))
    batch = collate([dataset[0], dataset[3]], samples_per_gpu=2)
    assert set(batch) == {'img', 'img_metas', 'gt_semantic_seg', 'target_img',
                          'target_img_metas', 'valid_pseudo_mask'}
    img, gt = batch['img'].data[0], batch['gt_semantic_seg'].data[0]
    assert img.shape == (2, 3, 16, 16) and img.dtype == torch.float32
    assert gt.shape == (2, 1, 16, 16) and gt.dtype == torch.int64
    assert batch['target_img'].data[0].shape == (2, 3, 16, 16)
    mask = batch['valid_pseudo_mask'].data[0]
    assert mask.shape == (2, 1, 16, 16) and mask.dtype == torch.uint8
    assert set(np.unique(mask.numpy())) <= {0, 1, 255}
    for key in ('img_metas', 'target_img_metas'):
        metas = batch[key].data[0]
        assert len(metas) == 2 and set(metas[0]) == set(DEFAULT_META_KEYS)


def test_target_gt_is_passed_only_with_debug_gt(tmp_path):
    with_labels = dict(target_collect=('img', 'gt_semantic_seg'), target_pipeline_ann=True)
    item = build_dataset(_uda_cfg(tmp_path, debug_gt=True, **with_labels))[0]
    assert item['target_gt_semantic_seg'].data.shape == (1, 16, 16)
    # MIC's target pipelines load the labels too; without debug_gt they stay hidden.
    assert 'target_gt_semantic_seg' not in build_dataset(_uda_cfg(tmp_path / 'b',
                                                                  **with_labels))[0]
    assert 'target_gt_semantic_seg' not in build_dataset(_uda_cfg(tmp_path / 'c',
                                                                  debug_gt=True))[0]


def test_sync_crop_size_crops_source_and_target_alike(tmp_path):
    dataset = build_dataset(_uda_cfg(tmp_path, sync_crop_size=(8, 12)))
    item = dataset[1]
    for key in ('img', 'gt_semantic_seg', 'target_img', 'valid_pseudo_mask'):
        assert item[key].data.shape[1:] == (8, 12)


def test_dataloader_yields_batches_without_workers(tmp_path):
    dataset = build_dataset(_uda_cfg(tmp_path))
    loader = build_dataloader(dataset, samples_per_gpu=2, workers_per_gpu=0, seed=0,
                              drop_last=True)
    batch = next(iter(loader))
    assert batch['img'].data[0].shape == (2, 3, 16, 16)
