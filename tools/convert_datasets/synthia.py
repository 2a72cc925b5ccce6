"""Convert Synthia (RAND-CITYSCAPES) labels to Cityscapes train ids and RCS statistics.

    python tools/convert_datasets/synthia.py data/synthia --nproc 8

Synthia's GT/LABELS PNGs are 16-bit, multi-channel; the class id is the channel cv2 reads last.
Writes `GT/LABELS/<n>_labelTrainIds.png` next to each label and the three stats files in PATH.
"""
import os.path as osp
import sys
from typing import Optional, Sequence

if __package__ in (None, ''):  # run as a script: make `tools` importable from the repo root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from mmseg.utils.errors import UserError  # noqa: E402
from tools.convert_datasets.common import (IdMapper, base_parser,  # noqa: E402
                                           convert_all, ends_in_digit_png, find_labels,
                                           jobs_beside, run_cli)

LAYOUT = ('  <PATH>/RGB/0000000.png         RGB image\n'
          '  <PATH>/GT/LABELS/0000000.png   16-bit multi-channel PNG, class id in the red channel')

# Synthia id -> Cityscapes train id (MIC's table). Ids 0 (void), 13 (parking-slot), 14 (road-work)
# and 22 (lane marking) are known and ignored; terrain, truck and train (16, 18, 20) are mapped
# although Synthia has no such pixels.
SYNTHIA_ID_TO_TRAIN_ID = {3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 16: 9, 1: 10,
                          10: 11, 17: 12, 8: 13, 18: 14, 19: 15, 20: 16, 12: 17, 11: 18,
                          0: 255, 13: 255, 14: 255, 22: 255}


def read_synthia_label(path: str) -> np.ndarray:
    """Class ids of a Synthia label: the last channel as cv2 reads it, (H, W) uint16."""
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise UserError(f'{path}: cannot read this Synthia label image.')
    if label.ndim != 3:
        raise UserError(f'{path}: expected a multi-channel Synthia label (class id in the last '
                        f'channel as read by cv2), got a single-channel image of {label.dtype}.')
    return label[:, :, -1]


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = base_parser('Convert Synthia labels to train ids and write RCS class statistics.',
                       'Synthia folder (with RGB/ and GT/LABELS/)', 'GT/LABELS', 4
                       ).parse_args(argv)
    gt_dir, names = find_labels(args.path, args.gt_dir, ends_in_digit_png, 'Synthia',
                                '<digits>.png', LAYOUT)
    jobs = jobs_beside(gt_dir, names, ['.png'])
    mapper = IdMapper(SYNTHIA_ID_TO_TRAIN_ID, 'Synthia', args.unknown_as_ignore)
    convert_all(jobs, read_synthia_label, mapper, args.nproc, args.out_dir or args.path,
                'synthia')


if __name__ == '__main__':
    run_cli(main)
