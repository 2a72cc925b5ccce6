"""Data-side speed: label converters (files/s) and the HR GTA training pipeline (images/s).

Runs on synthetic data written to a temporary folder, so no dataset is needed:

    python tools/benchmark_data.py [--num-files 100 --size 256 512 --nproc 2]
                                   [--pipeline-images 4 --pipeline-iters 20]

Prints one JSON line: converter files/s for a first run and for a rerun (everything up to
date), generator images/s, and images/s of MIC's gtaHR training pipeline on full-size
1914x1052 images (Resize to 2560x1440, 1024 crop with cat_max_ratio 0.75, flip, normalise, pad).
"""
import argparse
import contextlib
import io
import json
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Callable, Dict, Optional, Sequence

if __package__ in (None, ''):  # run as a script: make `tools` importable from the repo root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402

from tools.convert_datasets import cityscapes, gta, synthia  # noqa: E402
from tools.synthetic import generate as synthetic  # noqa: E402
from tools.convert_datasets.common import run_cli  # noqa: E402

IMG_NORM_CFG = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
# MIC's gtaHR source pipeline (uda_gtaHR_to_cityscapesHR_1024x1024.py)
GTA_HR_TRAIN_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', img_scale=(2560, 1440)),
    dict(type='RandomCrop', crop_size=(1024, 1024), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Normalize', **IMG_NORM_CFG),
    dict(type='Pad', size=(1024, 1024), pad_val=0, seg_pad_val=255),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_semantic_seg']),
]
GTA_SIZE = (1052, 1914)  # (H, W) of real GTA images


def _quiet(fn: Callable[[], object]) -> float:
    """Seconds fn takes, with its progress bars and summary lines swallowed."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start


def bench_converters(work: str, num: int, size: Sequence[int], nproc: int, seed: int) -> Dict:
    """files/s of each converter on `num` generated labels: a first run and a rerun."""
    start = time.perf_counter()
    synthetic.generate(work, num_source=num, num_target_train=num, num_target_val=0,
                       size=tuple(size), seed=seed, synthia=True)
    generated = 3 * num
    result = dict(generator_images_per_s=generated / (time.perf_counter() - start))
    for name, module in (('gta', gta), ('cityscapes', cityscapes), ('synthia', synthia)):
        argv = [osp.join(work, name), '--nproc', str(nproc)]
        first = _quiet(lambda: module.main(argv))
        rerun = _quiet(lambda: module.main(argv))
        result[name] = dict(files=num, files_per_s=num / first, rerun_files_per_s=num / rerun)
    return result


def bench_pipeline(work: str, num_images: int, iters: int, seed: int,
                   size: Sequence[int] = GTA_SIZE) -> Dict:
    """images/s of the gtaHR training pipeline on generated GTA images of `size` (H, W)."""
    from mmseg.datasets.pipelines import Compose
    root = osp.join(work, 'gta_full')
    start = time.perf_counter()
    names = synthetic.write_gta(root, num_images, tuple(size), seed)
    gen_s = time.perf_counter() - start
    _quiet(lambda: gta.main([root, '--nproc', '1']))
    pipeline = Compose(GTA_HR_TRAIN_PIPELINE)

    def sample(i: int) -> dict:
        name = names[i % len(names)]
        return pipeline(dict(img_info=dict(filename=name),
                             ann_info=dict(seg_map=name.replace('.png', '_labelTrainIds.png')),
                             img_prefix=osp.join(root, 'images'),
                             seg_prefix=osp.join(root, 'labels'), seg_fields=[]))

    np.random.seed(seed)  # the pipeline's crops and flips draw from the global RNG, as MMSeg's
    out = sample(0)  # warm-up (first decode, lazy imports)
    times = []
    for i in range(iters):
        start = time.perf_counter()
        sample(i)
        times.append(time.perf_counter() - start)
    return dict(images=num_images, iters=iters, image_hw=list(size),
                out_img_shape=list(out['img'].data.shape),
                out_seg_shape=list(out['gt_semantic_seg'].data.shape),
                images_per_s=iters / sum(times), median_s=float(np.median(times)),
                generator_s_per_full_image=gen_s / num_images)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--num-files', type=int, default=100, help='labels per converter')
    parser.add_argument('--size', type=int, nargs=2, default=(256, 512), metavar=('H', 'W'),
                        help='size of the converter benchmark labels')
    parser.add_argument('--nproc', type=int, default=os.cpu_count() or 1)
    parser.add_argument('--pipeline-images', type=int, default=4)
    parser.add_argument('--pipeline-iters', type=int, default=20)
    parser.add_argument('--pipeline-size', type=int, nargs=2, default=GTA_SIZE,
                        metavar=('H', 'W'), help='generated GTA image size (real GTA: 1052 1914)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--skip-pipeline', action='store_true')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix='benchmark_data_') as work:
        result = dict(cpu_count=os.cpu_count(), nproc=args.nproc,
                      converters=bench_converters(osp.join(work, 'small'), args.num_files,
                                                  args.size, args.nproc, args.seed))
        if not args.skip_pipeline:
            result['gta_hr_pipeline'] = bench_pipeline(work, args.pipeline_images,
                                                       args.pipeline_iters, args.seed,
                                                       args.pipeline_size)
    print(json.dumps(_rounded(result), sort_keys=True))


def _rounded(value):
    """Floats to 4 significant digits, recursively, for a readable JSON line."""
    if isinstance(value, float):
        return float(f'{value:.4g}')
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


if __name__ == '__main__':
    run_cli(main)
