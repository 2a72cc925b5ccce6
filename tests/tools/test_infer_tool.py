"""tools/infer.py on the checkpoint of a tiny run: pictures, overrides, unreadable files."""
import json
import shutil

import mmcv
import numpy as np
import pytest
from PIL import Image

from tools.infer import collect_inputs

from tools_helpers import run_tool

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def image_folder(synthetic_root, tmp_path_factory):
    """The two synthetic val images (one in a sub-folder) and one corrupt file."""
    folder = tmp_path_factory.mktemp('infer_inputs')
    val = sorted((synthetic_root / 'cityscapes' / 'leftImg8bit' / 'val').glob('*/*.png'))
    shutil.copy(val[0], folder / 'a.png')
    (folder / 'sub').mkdir()
    shutil.copy(val[1], folder / 'sub' / 'b.png')
    (folder / 'broken.png').write_bytes(b'not an image')
    return folder


def infer(tiny_run, inputs, out, *extra):
    config = next(tiny_run.glob('*.py'))
    return run_tool(['-m', 'tools.infer', config, tiny_run / 'iter_2.pth', *inputs,
                     '--out', out, *extra])


def test_folder_with_a_corrupt_file_writes_the_others_and_reports_it(tiny_run, image_folder,
                                                                     tmp_path):
    result = infer(tiny_run, [image_folder], tmp_path, '--which', 'ema_model',
                   '--batch-size', '2', '--opacity', '0.6')
    assert result.returncode == 1
    assert f'error: cannot decode image {image_folder / "broken.png"}' in result.stderr
    assert 'skipped 1 unreadable file(s)' in result.stderr
    assert '2 images in' in result.stdout and 'images/s' in result.stdout
    for name in ('a', 'sub/b'):
        image = mmcv.imread(str(image_folder / f'{name}.png'))
        pred = Image.open(tmp_path / f'{name}_pred.png')
        ids = np.asarray(pred)
        assert pred.mode == 'P' and ids.shape == image.shape[:2] and ids.max() < 19
        palette = np.array(pred.getpalette()[:19 * 3]).reshape(19, 3)
        expected = (image * 0.4 + palette[ids][..., ::-1] * 0.6).astype(np.uint8)
        overlay = mmcv.imread(str(tmp_path / f'{name}_overlay.png'))
        assert np.abs(overlay.astype(int) - expected).max() <= 1
    assert not list(tmp_path.glob('broken*'))
    assert Image.open(tmp_path / 'legend.png').height == 19 * 20


def test_palette_and_classes_files_override_the_checkpoint_meta(tiny_run, image_folder,
                                                                tmp_path):
    colours = [[i, 255 - i, 7] for i in range(19)]
    (tmp_path / 'palette.json').write_text(json.dumps(colours))
    (tmp_path / 'classes.txt').write_text('\n'.join(f'c{i}' for i in range(19)))
    out = tmp_path / 'out'
    result = infer(tiny_run, [image_folder / 'a.png'], out, '--palette',
                   tmp_path / 'palette.json', '--classes', tmp_path / 'classes.txt')
    assert result.returncode == 0, result.stderr[-2000:]
    pred = Image.open(out / 'a_pred.png')
    assert pred.getpalette()[:19 * 3] == [v for c in colours for v in c]
    legend = np.asarray(Image.open(out / 'legend.png'))
    assert legend[10, 10].tolist() == colours[0] and legend[18 * 20 + 10, 10].tolist() == \
        colours[18]


def test_hrda_attention_output_is_a_grey_map(tiny_run, image_folder, tmp_path):
    result = infer(tiny_run, [str(image_folder / '*.png')], tmp_path, '--hrda-out', 'ATT')
    assert result.returncode == 1  # the glob also matches broken.png
    att = mmcv.imread(str(tmp_path / 'a_attention.png'))
    assert (att[..., 0] == att[..., 2]).all() and not (tmp_path / 'a_pred.png').exists()


def test_collect_inputs_names_folder_images_relative_to_the_folder(tmp_path):
    (tmp_path / 'x' / 'y').mkdir(parents=True)
    for rel in ('x/1.png', 'x/y/2.jpg', 'x/notes.txt', 'single.png', 'clip.mp4'):
        (tmp_path / rel).write_bytes(b'')
    images, videos = collect_inputs([str(tmp_path / 'x'), str(tmp_path / 'single.png'),
                                     str(tmp_path / 'clip.mp4')])
    assert [name for _, name in images] == ['1', 'y/2', 'single']
    assert videos == [str(tmp_path / 'clip.mp4')]


def test_unknown_input_is_one_error_line(tiny_run, tmp_path):
    result = infer(tiny_run, [tmp_path / 'missing.png'], tmp_path / 'out')
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == \
        f'error: input {tmp_path / "missing.png"} is no file, folder or matching glob pattern.'


def test_video_becomes_an_overlay_video_with_every_frame(tiny_run, image_folder, tmp_path):
    import cv2
    frame = cv2.imread(str(image_folder / 'a.png'))
    height, width = frame.shape[:2]
    writer = cv2.VideoWriter(str(tmp_path / 'clip.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 5,
                             (width, height))
    for _ in range(3):
        writer.write(frame)
    writer.release()
    result = infer(tiny_run, [tmp_path / 'clip.mp4'], tmp_path / 'out', '--batch-size', '2')
    assert result.returncode == 0, result.stderr[-2000:]
    assert '3 images in' in result.stdout
    capture = cv2.VideoCapture(str(tmp_path / 'out' / 'clip_overlay.mp4'))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    assert len(frames) == 3 and frames[0].shape == frame.shape
