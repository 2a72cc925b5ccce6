"""Stats files, reruns and folder errors of the converters, on generated data."""
import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image

from mmseg.utils.errors import UserError
from tools.convert_datasets import cityscapes, gta, synthia

STATS = ('sample_class_stats.json', 'sample_class_stats_dict.json', 'samples_with_class.json')


def _read_stats(root):
    return [json.loads((root / name).read_text()) for name in STATS]


def _recount(label_files):
    """The three stats structures, from a direct per-class loop over the train-id files."""
    entries, per_file, with_class = [], {}, {}
    for path in label_files:
        label = np.asarray(Image.open(path))
        counts = {}
        for c in range(19):
            n = int(np.sum(label == c))
            if n > 0:
                counts[str(c)] = n
                with_class.setdefault(str(c), []).append([str(path), n])
        entries.append(dict(counts, file=str(path)))
        per_file[str(path)] = counts
    return [entries, per_file, with_class]


def test_gta_stats_equal_a_direct_recount(copy_dataset):
    root = copy_dataset('gta')
    gta.main([str(root), '--nproc', '1'])
    outputs = sorted((root / 'labels').glob('*_labelTrainIds.png'))
    assert len(outputs) == 9
    assert _read_stats(root) == _recount(outputs)


def test_cityscapes_stats_equal_a_recount_of_the_train_split(copy_dataset):
    root = copy_dataset('cityscapes')
    cityscapes.main([str(root), '--nproc', '1'])
    train = sorted((root / 'gtFine' / 'train').rglob('*_gtFine_labelTrainIds.png'))
    assert len(train) == 9
    assert len(list((root / 'gtFine' / 'val').rglob('*_gtFine_labelTrainIds.png'))) == 2
    entries, per_file, with_class = _read_stats(root)
    expected = _recount(train)
    assert sorted(entries, key=lambda e: e['file']) == expected[0]
    assert per_file == expected[1]
    assert {c: sorted(v) for c, v in with_class.items()} == expected[2]
    assert len((root / 'train.txt').read_text().split()) == 9
    assert len((root / 'val.txt').read_text().split()) == 2


def test_synthia_stats_equal_a_direct_recount(copy_dataset):
    root = copy_dataset('synthia')
    synthia.main([str(root), '--nproc', '1'])
    outputs = sorted((root / 'GT' / 'LABELS').glob('*_labelTrainIds.png'))
    assert _read_stats(root) == _recount(outputs)


def test_conversion_leaves_input_files_unchanged(copy_dataset):
    root = copy_dataset('gta')
    inputs = sorted((root / 'labels').glob('*.png'))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in inputs}
    gta.main([str(root), '--nproc', '1'])
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in inputs} == before


def test_rerun_skips_finished_files_and_keeps_the_stats(copy_dataset):
    root = copy_dataset('gta')
    gta.main([str(root), '--nproc', '1'])
    outputs = sorted((root / 'labels').glob('*_labelTrainIds.png'))
    mtimes = [os.stat(p).st_mtime_ns for p in outputs]
    stats = _read_stats(root)
    gta.main([str(root), '--nproc', '1'])
    assert [os.stat(p).st_mtime_ns for p in outputs] == mtimes
    assert _read_stats(root) == stats


def test_rerun_without_cache_recounts_skipped_outputs(copy_dataset):
    root = copy_dataset('gta')
    gta.main([str(root), '--nproc', '1'])
    stats = _read_stats(root)
    (root / '.class_stats_cache.json').unlink()
    (root / 'sample_class_stats.json').unlink()
    gta.main([str(root), '--nproc', '1'])
    assert _read_stats(root) == stats


def test_rerun_reconverts_an_input_newer_than_its_output(copy_dataset):
    root = copy_dataset('gta')
    gta.main([str(root), '--nproc', '1'])
    src, dst = root / 'labels' / '00002.png', root / 'labels' / '00002_labelTrainIds.png'
    other = root / 'labels' / '00003_labelTrainIds.png'
    other_mtime = os.stat(other).st_mtime_ns
    label = Image.open(src)
    ids = np.full_like(np.asarray(label), 26)  # all car
    img = Image.fromarray(ids)
    img.putpalette(label.getpalette())
    img.save(src)
    t = os.stat(dst).st_mtime_ns + 10**9
    os.utime(src, ns=(t, t))
    gta.main([str(root), '--nproc', '1'])
    assert os.stat(other).st_mtime_ns == other_mtime
    assert np.all(np.asarray(Image.open(dst)) == 13)
    per_file = json.loads((root / 'sample_class_stats_dict.json').read_text())
    assert per_file[str(dst)] == {'13': ids.size}


def test_parallel_run_gives_the_same_stats_as_serial(copy_dataset, tmp_path):
    root = copy_dataset('synthia')
    synthia.main([str(root), '--nproc', '2', '-o', str(tmp_path / 'par')])
    for p in (root / 'GT' / 'LABELS').glob('*_labelTrainIds.png'):
        p.unlink()
    synthia.main([str(root), '--nproc', '1', '-o', str(tmp_path / 'ser')])
    assert _read_stats(tmp_path / 'par') == _read_stats(tmp_path / 'ser')


@pytest.mark.parametrize('module, sub', [(gta, 'labels'), (synthia, 'GT/LABELS'),
                                         (cityscapes, 'gtFine')])
def test_missing_label_folder_is_a_user_error_naming_it(tmp_path, module, sub):
    with pytest.raises(UserError) as err:
        module.main([str(tmp_path)])
    assert f'label folder not found: {tmp_path / sub}\nExpected layout:\n  {tmp_path}/' in str(
        err.value)


def test_missing_root_is_a_user_error_naming_it(tmp_path):
    missing = tmp_path / 'nowhere'
    with pytest.raises(UserError, match=f'GTA folder not found: {missing}'):
        gta.main([str(missing)])


def test_folder_without_labels_is_a_user_error(tmp_path):
    (tmp_path / 'gtFine' / 'train').mkdir(parents=True)
    with pytest.raises(UserError, match='no Cityscapes label files'):
        cityscapes.main([str(tmp_path)])
