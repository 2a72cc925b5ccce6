import hashlib
import re

import cv2
import numpy as np
from PIL import Image

from tools.synthetic import generate as synthetic

# Cityscapes label ids of the 19 train classes (road ... bicycle), from the published table.
TRAIN_CLASS_LABEL_IDS = {7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33}


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


def _generate(root, seed):
    synthetic.generate(str(root), num_source=2, num_target_train=2, num_target_val=1,
                       size=(48, 96), seed=seed, synthia=True, num_synthia=1)


def test_same_seed_gives_identical_bytes_whatever_the_global_rng(tmp_path):
    np.random.seed(1)
    _generate(tmp_path / 'a', seed=3)
    np.random.seed(2)
    np.random.rand(5)
    _generate(tmp_path / 'b', seed=3)
    a, b = _digests(tmp_path / 'a'), _digests(tmp_path / 'b')
    assert len(a) == 2 * 2 + 2 * 3 + 2 * 1
    assert a == b


def test_different_seed_gives_different_images(tmp_path):
    _generate(tmp_path / 'a', seed=0)
    _generate(tmp_path / 'b', seed=1)
    a, b = _digests(tmp_path / 'a'), _digests(tmp_path / 'b')
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a)


def test_gta_layout_has_paletted_label_id_pngs(synthetic_root):
    gta = synthetic_root / 'gta'
    images = sorted(p.name for p in (gta / 'images').iterdir())
    assert images == [f'{i:05d}.png' for i in range(1, 10)]
    assert sorted(p.name for p in (gta / 'labels').iterdir()) == images
    for name in images:
        img = cv2.imread(str(gta / 'images' / name))
        with Image.open(gta / 'labels' / name) as label:
            assert label.mode == 'P'
            ids = np.asarray(label)
        assert img.shape == (64, 128, 3) and ids.shape == (64, 128)
        assert ids.max() <= 33


def test_cityscapes_layout_has_label_ids_per_split_and_city(synthetic_root):
    cs = synthetic_root / 'cityscapes'
    pattern = re.compile(r'^(train|val)/([a-z]+)/\2_000000_\d{6}_leftImg8bit\.png$')
    images = sorted(p.relative_to(cs / 'leftImg8bit').as_posix()
                    for p in (cs / 'leftImg8bit').rglob('*.png'))
    assert len(images) == 11 and all(pattern.match(n) for n in images)
    assert sum(n.startswith('val/') for n in images) == 2
    for name in images:
        gt = cs / 'gtFine' / name.replace('_leftImg8bit.png', '_gtFine_labelIds.png')
        with Image.open(gt) as label:
            assert label.mode == 'L'
            ids = np.asarray(label)
        assert ids.shape == (64, 128) and ids.max() <= 33


def test_cityscapes_target_contains_ignored_extra_ids(synthetic_root):
    ids = set()
    for p in (synthetic_root / 'cityscapes' / 'gtFine').rglob('*_gtFine_labelIds.png'):
        ids |= set(np.unique(np.asarray(Image.open(p))).tolist())
    assert ids - TRAIN_CLASS_LABEL_IDS - {0}  # e.g. ego vehicle, border, parking, static


def test_synthia_labels_are_16bit_with_class_in_last_cv2_channel(synthetic_root):
    names = sorted(p.name for p in (synthetic_root / 'synthia' / 'RGB').iterdir())
    assert names == [f'{i:07d}.png' for i in range(6)]
    for name in names:
        gt = cv2.imread(str(synthetic_root / 'synthia' / 'GT' / 'LABELS' / name),
                        cv2.IMREAD_UNCHANGED)
        assert gt.dtype == np.uint16 and gt.shape == (64, 128, 3)
        assert gt[:, :, -1].max() <= 22
        assert not {16, 18, 20} & set(np.unique(gt[:, :, -1]).tolist())  # no terrain/truck/train


def test_every_train_class_appears_in_nine_images_of_each_domain(synthetic_root):
    for pattern in ('gta/labels/*.png', 'cityscapes/gtFine/train/*/*_labelIds.png'):
        ids = set()
        for p in synthetic_root.glob(pattern):
            ids |= set(np.unique(np.asarray(Image.open(p))).tolist())
        assert TRAIN_CLASS_LABEL_IDS <= ids, pattern


def test_zero_shift_strength_gives_the_source_look():
    assert synthetic.target_style(0.0) == synthetic.interpolate_style(
        synthetic.source_style(), synthetic.source_style(), 0.5)


def test_palette_shift_moves_only_the_class_colours():
    composed = synthetic.target_style(1.0, palette_shift=0.0)
    full, source = synthetic.target_style(1.0), synthetic.source_style()
    assert composed.palette == synthetic.target_style(0.0).palette
    assert composed.vehicle_colours == synthetic.target_style(0.0).vehicle_colours
    assert composed.palette != full.palette
    for field in ('saturation', 'blur_sigma', 'noise_sigma', 'rates', 'object_scale', 'cast'):
        assert getattr(composed, field) == getattr(full, field) != getattr(source, field)


def test_palette_shift_none_or_equal_is_the_plain_shift():
    assert synthetic.target_style(0.6, palette_shift=None) == synthetic.target_style(0.6)
    assert synthetic.target_style(0.6, palette_shift=0.6) == synthetic.target_style(0.6)


def test_target_image_statistics_differ_from_source(synthetic_root):
    src = np.stack([cv2.imread(str(p)) for p in (synthetic_root / 'gta' / 'images').iterdir()])
    tgt = np.stack([cv2.imread(str(p))
                    for p in (synthetic_root / 'cityscapes' / 'leftImg8bit').rglob('*.png')])
    # the target is less saturated (channel spread) and lower in contrast
    sat = lambda x: (x.max(axis=-1).astype(int) - x.min(axis=-1)).mean()  # noqa: E731
    assert sat(tgt) < 0.75 * sat(src)
    assert tgt.std() < src.std()


def test_cli_writes_the_requested_counts_and_size(tmp_path):
    synthetic.main([str(tmp_path), '--num-source', '1', '--num-target-train', '2',
                    '--num-target-val', '1', '--size', '32', '48', '--seed', '5'])
    assert len(list((tmp_path / 'gta' / 'images').iterdir())) == 1
    assert len(list((tmp_path / 'cityscapes' / 'leftImg8bit' / 'train').rglob('*.png'))) == 2
    img = cv2.imread(str(next((tmp_path / 'cityscapes' / 'leftImg8bit' / 'val').rglob('*.png'))))
    assert img.shape == (32, 48, 3)
    assert not (tmp_path / 'synthia').exists()
