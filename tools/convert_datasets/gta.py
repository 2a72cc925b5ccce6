"""Convert GTA labels (paletted PNGs of Cityscapes label ids) to train ids and RCS statistics.

    python tools/convert_datasets/gta.py data/gta --nproc 8

Writes `labels/<n>_labelTrainIds.png` next to each `labels/<n>.png`, and
`sample_class_stats.json`, `sample_class_stats_dict.json`, `samples_with_class.json` in data/gta.
"""
import os.path as osp
import sys
from typing import Optional, Sequence

if __package__ in (None, ''):  # run as a script: make `tools` importable from the repo root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import numpy as np  # noqa: E402

from tools.convert_datasets.common import (IdMapper, base_parser,  # noqa: E402
                                           cityscapes_id_to_train_id, convert_all,
                                           ends_in_digit_png, find_labels, jobs_beside,
                                           read_single_channel_png, run_cli)

LAYOUT = ('  <PATH>/images/00001.png   RGB image\n'
          '  <PATH>/labels/00001.png   paletted PNG of Cityscapes label ids')


def read_gta_label(path: str) -> np.ndarray:
    """Palette indices (= Cityscapes label ids) of a GTA label, (H, W) uint8."""
    return read_single_channel_png(path, 'GTA', 'a paletted (mode P) PNG of label ids')


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = base_parser('Convert GTA labels to train ids and write RCS class statistics.',
                       'GTA folder (with images/ and labels/)', 'labels', 4).parse_args(argv)
    gt_dir, names = find_labels(args.path, args.gt_dir, ends_in_digit_png, 'GTA', '<digits>.png',
                                LAYOUT)
    jobs = jobs_beside(gt_dir, names, ['.png'])
    mapper = IdMapper(cityscapes_id_to_train_id(), 'GTA (Cityscapes label id)',
                      args.unknown_as_ignore)
    convert_all(jobs, read_gta_label, mapper, args.nproc, args.out_dir or args.path, 'gta')


if __name__ == '__main__':
    run_cli(main)
