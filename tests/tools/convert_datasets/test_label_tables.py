"""Every id of each published table goes to the expected train id (tables written out here)."""
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from mmseg.utils.errors import UserError
from tools.convert_datasets import cityscapes, gta, synthia

# cityscapesscripts labels.py: label id -> trainId (255 and -1 become 255).
CITYSCAPES_EXPECTED = {
    0: 255, 1: 255, 2: 255, 3: 255, 4: 255, 5: 255, 6: 255, 7: 0, 8: 1, 9: 255, 10: 255,
    11: 2, 12: 3, 13: 4, 14: 255, 15: 255, 16: 255, 17: 5, 18: 255, 19: 6, 20: 7, 21: 8,
    22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 29: 255, 30: 255, 31: 16,
    32: 17, 33: 18,
    255: 255,  # license plate, id -1, as a uint8 pixel
}
# Synthia RAND-CITYSCAPES id -> Cityscapes train id (MIC's synthia.py table); 0 void,
# 13 parking-slot, 14 road-work and 22 lane marking are ignored.
SYNTHIA_EXPECTED = {
    0: 255, 1: 10, 2: 2, 3: 0, 4: 1, 5: 4, 6: 8, 7: 5, 8: 13, 9: 7, 10: 11, 11: 18, 12: 17,
    13: 255, 14: 255, 15: 6, 16: 9, 17: 12, 18: 14, 19: 15, 20: 16, 21: 3, 22: 255,
}


def _id_strip(ids):
    """A (2, N) label with one column per id: the train id of column k is checked."""
    return np.tile(np.asarray(sorted(ids), np.uint8), (2, 1))


def _expected_strip(table):
    return np.tile(np.asarray([table[k] for k in sorted(table)], np.uint8), (2, 1))


def _write_gta(root, name, ids):
    (root / 'labels').mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(ids)
    img.putpalette([0] * 768)
    img.save(root / 'labels' / name)


def test_gta_maps_every_cityscapes_label_id(tmp_path):
    _write_gta(tmp_path, '00001.png', _id_strip(CITYSCAPES_EXPECTED))
    gta.main([str(tmp_path), '--nproc', '1'])
    out = np.asarray(Image.open(tmp_path / 'labels' / '00001_labelTrainIds.png'))
    np.testing.assert_array_equal(out, _expected_strip(CITYSCAPES_EXPECTED))


def test_cityscapes_maps_every_label_id_and_counts_train_split_only(tmp_path):
    for split in ('train', 'val'):
        folder = tmp_path / 'gtFine' / split / 'ulm'
        folder.mkdir(parents=True)
        Image.fromarray(_id_strip(CITYSCAPES_EXPECTED)).save(
            folder / 'ulm_000000_000001_gtFine_labelIds.png')
    cityscapes.main([str(tmp_path)])
    for split in ('train', 'val'):
        out = np.asarray(Image.open(
            tmp_path / 'gtFine' / split / 'ulm' / 'ulm_000000_000001_gtFine_labelTrainIds.png'))
        np.testing.assert_array_equal(out, _expected_strip(CITYSCAPES_EXPECTED))
    stats = json.loads((tmp_path / 'sample_class_stats.json').read_text())
    assert [s['file'] for s in stats] == [
        str(tmp_path / 'gtFine' / 'train' / 'ulm' / 'ulm_000000_000001_gtFine_labelTrainIds.png')]
    assert {k: v for k, v in stats[0].items() if k != 'file'} == {str(c): 2 for c in range(19)}
    assert (tmp_path / 'train.txt').read_text() == 'ulm/ulm_000000_000001\n'
    assert (tmp_path / 'val.txt').read_text() == 'ulm/ulm_000000_000001\n'


def test_cityscapes_falls_back_to_polygons_json(tmp_path):
    folder = tmp_path / 'gtFine' / 'train' / 'ulm'
    folder.mkdir(parents=True)
    objects = [  # later objects cover earlier ones; the plate (id -1) is not drawn
        dict(label='road', polygon=[[0, 0], [7, 0], [7, 3], [0, 3]]),
        dict(label='cargroup', polygon=[[0, 0], [3, 0], [3, 1], [0, 1]]),
        dict(label='license plate', polygon=[[0, 0], [1, 0], [1, 1], [0, 1]]),
    ]
    (folder / 'ulm_000000_000002_gtFine_polygons.json').write_text(
        json.dumps(dict(imgHeight=6, imgWidth=10, objects=objects)))
    cityscapes.main([str(tmp_path)])
    out = np.asarray(Image.open(folder / 'ulm_000000_000002_gtFine_labelTrainIds.png'))
    expected = np.full((6, 10), 255, np.uint8)
    expected[:4, :8] = 0  # PIL polygons include their border pixels
    expected[:2, :4] = 13
    np.testing.assert_array_equal(out, expected)


def test_synthia_maps_every_id_of_the_last_cv2_channel(tmp_path):
    folder = tmp_path / 'GT' / 'LABELS'
    folder.mkdir(parents=True)
    ids = _id_strip(SYNTHIA_EXPECTED).astype(np.uint16)
    label = np.stack([np.full_like(ids, 7), np.full_like(ids, 999), ids], axis=-1)
    cv2.imwrite(str(folder / '0000000.png'), label)
    synthia.main([str(tmp_path), '--nproc', '1'])
    out = np.asarray(Image.open(folder / '0000000_labelTrainIds.png'))
    np.testing.assert_array_equal(out, _expected_strip(SYNTHIA_EXPECTED))


@pytest.mark.parametrize('bad_id', [34, 254])
def test_gta_unknown_label_id_is_a_user_error_naming_the_file(tmp_path, bad_id):
    _write_gta(tmp_path, '00001.png', np.array([[7, bad_id]], np.uint8))
    with pytest.raises(UserError, match=rf'00001\.png: label ids {bad_id} '):
        gta.main([str(tmp_path), '--nproc', '1'])


def test_unknown_as_ignore_maps_unknown_ids_to_255(tmp_path):
    _write_gta(tmp_path, '00001.png', np.array([[7, 40]], np.uint8))
    gta.main([str(tmp_path), '--nproc', '1', '--unknown-as-ignore'])
    out = np.asarray(Image.open(tmp_path / 'labels' / '00001_labelTrainIds.png'))
    np.testing.assert_array_equal(out, [[0, 255]])


def test_gta_rgb_label_is_a_user_error_naming_the_file(tmp_path):
    (tmp_path / 'labels').mkdir()
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / 'labels' / '00007.png')
    with pytest.raises(UserError, match=r'00007\.png: expected a paletted'):
        gta.main([str(tmp_path), '--nproc', '1'])


def test_cityscapes_id_above_33_is_a_user_error_naming_the_file(tmp_path):
    folder = tmp_path / 'gtFine' / 'train' / 'ulm'
    folder.mkdir(parents=True)
    Image.fromarray(np.array([[34]], np.uint8)).save(folder / 'ulm_0_1_gtFine_labelIds.png')
    with pytest.raises(UserError, match=r'ulm_0_1_gtFine_labelIds\.png: label ids 34 '):
        cityscapes.main([str(tmp_path)])


def test_synthia_id_above_22_is_a_user_error_naming_the_file(tmp_path):
    folder = tmp_path / 'GT' / 'LABELS'
    folder.mkdir(parents=True)
    label = np.zeros((1, 2, 3), np.uint16)
    label[0, 1, 2] = 300
    cv2.imwrite(str(folder / '0000003.png'), label)
    with pytest.raises(UserError, match=r'0000003\.png: label ids 300 '):
        synthia.main([str(tmp_path), '--nproc', '1'])


def test_synthia_single_channel_label_is_a_user_error(tmp_path):
    folder = tmp_path / 'GT' / 'LABELS'
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / '0000001.png'), np.zeros((2, 2), np.uint16))
    with pytest.raises(UserError, match=r'0000001\.png: expected a multi-channel'):
        synthia.main([str(tmp_path), '--nproc', '1'])
