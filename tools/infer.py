"""Segment your own images (or a video) with a trained segmentor or UDA checkpoint.

    python -m tools.infer CONFIG CHECKPOINT INPUT [INPUT ...] --out DIR [--opacity 0.5]
        [--which ema_model] [--hrda-out LR|HR|ATT] [--aug-test] [--device cpu|cuda]

INPUT: image files, folders (searched recursively) or glob patterns; a video file (.mp4, .avi,
...) becomes an overlay video. For every image DIR gets `<name>_pred.png` (train ids with the
class palette), `<name>_overlay.png` (colours blended over the image) and once `legend.png`
(`--hrda-out ATT`: `<name>_attention.png`, the HR attention as grey levels).
Unreadable files are skipped and listed at the end; the exit status is then 1.
"""
import argparse
import glob
import json
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ''):  # `python tools/infer.py` from the repository root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmseg  # noqa: E402,F401  (before mmcv: it silences mmcv's 2.0 notice)
import mmcv  # noqa: E402
import numpy as np  # noqa: E402
from mmcv.utils import DictAction  # noqa: E402

from mmseg.apis.inference import inference_segmentor, init_segmentor  # noqa: E402
from mmseg.core.evaluation.class_names import get_classes, get_palette  # noqa: E402
from mmseg.datasets import DATASETS  # noqa: E402
from mmseg.datasets.pipelines.loading import read_image_file  # noqa: E402
from mmseg.apis.config_checks import load_config  # noqa: E402
from mmseg.utils.device import default_device  # noqa: E402
from mmseg.utils.errors import UserError, run_cli  # noqa: E402
from tools.test import AUG_TEST_RATIOS, HRDA_OUTPUTS, set_hrda_output, update_legacy_cfg  # noqa: E402,E501

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv')


def parse_args(args):
    parser = argparse.ArgumentParser(description='Segment images, folders or a video')
    parser.add_argument('config', help='config of the model (a training or test config)')
    parser.add_argument('checkpoint', help='checkpoint file (segmentor or UDA)')
    parser.add_argument('inputs', nargs='+', help='image files, folders, globs or a video')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='colour opacity of the overlays, in (0, 1]')
    parser.add_argument('--which', choices=['model', 'ema_model'], default='model',
                        help='weights of a UDA checkpoint: the student (MIC) or the EMA teacher')
    parser.add_argument('--hrda-out', choices=list(HRDA_OUTPUTS), default='',
                        help='HRDA only: LR or HR prediction alone, or the ATTention map')
    parser.add_argument('--aug-test', action='store_true',
                        help='multi-scale (x0.5..1.75) and flip test-time augmentation')
    parser.add_argument('--device', choices=['cpu', 'cuda'], help='default: cuda if available')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images per forward pass (images of equal size are batched)')
    parser.add_argument('--classes', help='class names: a dataset name (cityscapes, ...) or a '
                                          'text file with one name per line')
    parser.add_argument('--palette', help='class colours: a dataset name or a JSON file with '
                                          'one [R, G, B] per class')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.test_cfg.mode=whole')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow checkpoints that need full unpickling (trusted files only)')
    return parser.parse_args(args)


def collect_inputs(inputs: Sequence[str]) -> Tuple[List[Tuple[str, str]], List[str]]:
    """(path, output name) of every image, and the video files.

    A folder contributes its images recursively, named relative to the folder; a file or a
    glob match is named by its file name. Unknown paths are a UserError (nothing would run).
    """
    images, videos = [], []
    for item in inputs:
        if osp.isdir(item):
            found = sorted(p for p in glob.glob(osp.join(item, '**', '*'), recursive=True)
                           if p.lower().endswith(IMAGE_EXTENSIONS))
            images += [(p, osp.splitext(osp.relpath(p, item))[0]) for p in found]
            continue
        matches = sorted(glob.glob(item)) if glob.has_magic(item) else [item]
        if not matches or not all(osp.isfile(p) for p in matches):
            raise UserError(f'input {item} is no file, folder or matching glob pattern.')
        for path in matches:
            if path.lower().endswith(VIDEO_EXTENSIONS):
                videos.append(path)
            else:
                images.append((path, osp.splitext(osp.basename(path))[0]))
    if not images and not videos:
        raise UserError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) found in {list(inputs)}.')
    return images, videos


def _dataset_or_file(value: str, what: str, from_dataset, from_file):
    try:
        return from_dataset(value)
    except ValueError:
        pass
    if not osp.isfile(value):
        raise UserError(f'--{what} {value}: neither a known dataset name (cityscapes, gta, '
                        'synthia, acdc, dark_zurich) nor an existing file.')
    return from_file(value)


def _read_palette(path: str) -> list:
    try:
        with open(path) as f:
            palette = json.load(f)
    except json.JSONDecodeError as err:
        raise UserError(f'--palette {path} is not JSON ({err}); give [[R, G, B], ...].') from None
    if not (isinstance(palette, list) and all(
            isinstance(c, list) and len(c) == 3 and all(0 <= v <= 255 for v in c)
            for c in palette)):
        raise UserError(f'--palette {path} must be a JSON list of [R, G, B] lists (0..255).')
    return palette


def _read_classes(path: str) -> list:
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def classes_and_palette(model, cfg: mmcv.Config, classes: Optional[str],
                        palette: Optional[str]) -> Tuple[list, np.ndarray]:
    """Names and colours: the overrides, else the checkpoint meta, else the test dataset's."""
    dataset = DATASETS.get(cfg.data.test.get('type', ''))
    names = model.CLASSES or getattr(dataset, 'CLASSES', None)
    colours = model.PALETTE or getattr(dataset, 'PALETTE', None)
    if classes:
        names = _dataset_or_file(classes, 'classes', get_classes, _read_classes)
    if palette:
        colours = _dataset_or_file(palette, 'palette', get_palette, _read_palette)
    num_classes = model.decode_head.num_classes
    if names is None or len(names) < num_classes:
        raise UserError(f'the model predicts {num_classes} classes but {len(names or [])} class '
                        'names are known; give --classes.')
    if colours is None or len(colours) < num_classes:
        raise UserError(f'the model predicts {num_classes} classes but the palette has '
                        f'{len(colours or [])} colours; give --palette.')
    return list(names)[:num_classes], np.asarray(colours, dtype=np.uint8)[:num_classes]


def write_legend(names: Sequence[str], palette: np.ndarray, path: str) -> None:
    """One row per class: its colour swatch and its train id and name."""
    from PIL import Image, ImageDraw
    row, width = 20, 220
    legend = Image.new('RGB', (width, row * len(names)), 'white')
    draw = ImageDraw.Draw(legend)
    for i, (name, colour) in enumerate(zip(names, palette)):
        draw.rectangle([2, i * row + 2, 38, (i + 1) * row - 2], fill=tuple(int(c) for c in colour))
        draw.text((46, i * row + 4), f'{i:2d} {name}', fill='black')
    legend.save(path)


class Predictor:
    """Runs the model on batches of images and writes the pictures of each."""

    def __init__(self, model, palette: np.ndarray, out_dir: str, opacity: float,
                 attention: bool):
        self.model, self.palette, self.out_dir = model, palette, out_dir
        self.opacity, self.attention = opacity, attention

    def predict(self, images: Sequence[np.ndarray]) -> List[np.ndarray]:
        """One prediction per image; equal-size images share a forward pass."""
        by_shape: Dict[tuple, List[int]] = {}
        for i, img in enumerate(images):
            by_shape.setdefault(img.shape, []).append(i)
        results: List[Optional[np.ndarray]] = [None] * len(images)
        for indices in by_shape.values():
            for i, pred in zip(indices, inference_segmentor(self.model,
                                                            [images[i] for i in indices])):
                results[i] = pred
        return results

    def render(self, img: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """The BGR overlay (or the attention map as a grey image under --hrda-out ATT)."""
        if self.attention:
            return np.repeat((np.clip(pred, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)
        return self.model.show_result(img, [pred], palette=self.palette, opacity=self.opacity)

    def write(self, name: str, img: np.ndarray, pred: np.ndarray) -> None:
        base = osp.join(self.out_dir, name)
        mmcv.mkdir_or_exist(osp.dirname(base))
        if self.attention:
            mmcv.imwrite(self.render(img, pred), f'{base}_attention.png')
            return
        self.model.show_result(img, [pred], palette=self.palette, opacity=1,
                               out_file=f'{base}_pred.png')
        mmcv.imwrite(self.render(img, pred), f'{base}_overlay.png')


def read_images(batch: Sequence[Tuple[str, str]], failed: List[str]):
    """The decodable images of `batch` as (name, BGR array); the others go to `failed`."""
    client = mmcv.FileClient(backend='disk')
    good = []
    for path, name in batch:
        try:
            good.append((name, read_image_file(client, None, path, 'image', 'color', 'cv2')[1]))
        except UserError as err:
            failed.append(str(err))
    return good


def segment_images(predictor: Predictor, images: Sequence[Tuple[str, str]], batch_size: int,
                   failed: List[str]) -> int:
    """Segment and write all images with a progress bar; return how many were written."""
    from tqdm import tqdm
    done = 0
    with tqdm(total=len(images), unit='img', desc='infer') as bar:
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size]
            good = read_images(batch, failed)
            preds = predictor.predict([img for _, img in good]) if good else []
            for (name, img), pred in zip(good, preds):
                predictor.write(name, img, pred)
            done += len(good)
            bar.update(len(batch))
    return done


def segment_video(predictor: Predictor, path: str, batch_size: int, failed: List[str]) -> int:
    """Write `<name>_overlay.mp4` with the overlay of every frame; return the frame count."""
    import cv2
    from tqdm import tqdm
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        failed.append(f'cannot open video {path}; the file is corrupt or not a video')
        return 0
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    out = osp.join(predictor.out_dir, osp.splitext(osp.basename(path))[0] + '_overlay.mp4')
    writer, frames = None, 0
    with tqdm(total=int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None, unit='frame',
              desc=osp.basename(path)) as bar:
        while True:
            batch = [frame for ok, frame in (capture.read() for _ in range(batch_size)) if ok]
            if not batch:
                break
            for frame, pred in zip(batch, predictor.predict(batch)):
                if writer is None:
                    height, width = frame.shape[:2]
                    writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                             (width, height))
                writer.write(predictor.render(frame, pred))
            frames += len(batch)
            bar.update(len(batch))
    capture.release()
    if writer is not None:
        writer.release()
    return frames


def prepare_config(args) -> mmcv.Config:
    """The test config as tools/test.py builds it (legacy names, --aug-test, --hrda-out)."""
    cfg = update_legacy_cfg(load_config(args.config, args.cfg_options))
    if args.aug_test:
        cfg.data.test.pipeline[1].img_ratios = AUG_TEST_RATIOS
        cfg.data.test.pipeline[1].flip = True
    set_hrda_output(cfg, args.hrda_out)
    return cfg


def main(args=None) -> int:
    args = parse_args(sys.argv[1:] if args is None else args)
    if not 0 < args.opacity <= 1:
        raise UserError(f'--opacity {args.opacity} must be in (0, 1].')
    if args.batch_size < 1:
        raise UserError(f'--batch-size {args.batch_size} must be at least 1.')
    images, videos = collect_inputs(args.inputs)
    cfg = prepare_config(args)
    if args.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            raise UserError('--device cuda: no CUDA GPU is visible; use --device cpu.')
    device = {'cpu': 'cpu', 'cuda': 'cuda:0'}.get(args.device) or default_device()
    model = init_segmentor(cfg, args.checkpoint, device=device, which=args.which,
                           unsafe=args.unsafe_load)
    names, palette = classes_and_palette(model, cfg, args.classes, args.palette)
    mmcv.mkdir_or_exist(args.out)
    write_legend(names, palette, osp.join(args.out, 'legend.png'))
    predictor = Predictor(model, palette, args.out, args.opacity, args.hrda_out == 'ATT')

    failed: List[str] = []
    start = time.perf_counter()
    done = segment_images(predictor, images, args.batch_size, failed) if images else 0
    for video in videos:
        done += segment_video(predictor, video, args.batch_size, failed)
    seconds = time.perf_counter() - start
    print(f'{done} images in {seconds:.1f} s ({done / max(seconds, 1e-9):.2f} images/s) on '
          f'{device}; results in {args.out}')
    if failed:
        print(f'skipped {len(failed)} unreadable file(s):', file=sys.stderr)
        for message in failed:
            print(f'error: {message}', file=sys.stderr)
        return 1
    return 0


def cli(args=None):
    """Run `main`; user errors print one message, unreadable inputs make the exit status 1."""
    sys.exit(run_cli(main, args))


if __name__ == '__main__':
    cli()
