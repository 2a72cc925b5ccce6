"""Convert Cityscapes labels to train ids, write RCS statistics and the split lists.

    python tools/convert_datasets/cityscapes.py data/cityscapes --nproc 8

Reads `gtFine/<split>/<city>/<stem>_gtFine_labelIds.png` (or, where only the polygons exist,
rasterises `<stem>_gtFine_polygons.json` with cityscapesscripts), writes
`<stem>_gtFine_labelTrainIds.png` beside it, the three stats files (train split only, as MIC)
and `<split>.txt` with the `<city>/<stem>` names of each split, in PATH.
"""
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

if __package__ in (None, ''):  # run as a script: make `tools` importable from the repo root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import numpy as np  # noqa: E402

from mmseg.utils.errors import UserError  # noqa: E402
from tools.convert_datasets.common import (IdMapper, base_parser,  # noqa: E402
                                           cityscapes_id_to_train_id, convert_all, find_labels,
                                           jobs_beside, read_single_channel_png, run_cli)

IDS_SUFFIX = '_gtFine_labelIds.png'
POLYGONS_SUFFIX = '_gtFine_polygons.json'
LAYOUT = ('  <PATH>/leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png\n'
          '  <PATH>/gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png\n'
          '      (or <...>_gtFine_polygons.json)')


def read_cityscapes_label(path: str) -> np.ndarray:
    """Cityscapes label ids, (H, W) uint8, from a labelIds PNG or a polygons JSON."""
    if not path.endswith('.json'):
        return read_single_channel_png(path, 'Cityscapes', 'a single-channel PNG of label ids')
    from cityscapesscripts.helpers.annotation import Annotation
    from cityscapesscripts.preparation.json2labelImg import createLabelImage
    try:
        annotation = Annotation()
        annotation.fromJsonFile(path)
        # 'ids' then our table == json2labelImg's 'trainIds' (same drawing, plates skipped)
        return np.asarray(createLabelImage(annotation, 'ids'), np.uint8)
    except (SystemExit, OSError, ValueError, KeyError) as exc:  # printError calls sys.exit
        raise UserError(f'{path}: cannot rasterise these Cityscapes polygons ({exc!r}).') from None


def select_labels(names: Sequence[str]) -> List[str]:
    """labelIds PNGs, plus polygons JSONs of the stems that have no labelIds PNG."""
    with_ids = {n[:-len(IDS_SUFFIX)] for n in names if n.endswith(IDS_SUFFIX)}
    return [n for n in names if n.endswith(IDS_SUFFIX)
            or (n.endswith(POLYGONS_SUFFIX) and n[:-len(POLYGONS_SUFFIX)] not in with_ids)]


def split_lists(names: Sequence[str]) -> Dict[str, List[str]]:
    """{split: ['<city>/<stem>', ...]} from label paths '<split>/<city>/<stem><suffix>'."""
    splits: Dict[str, List[str]] = {}
    for name in names:
        split, rest = name.split('/', 1)
        suffix = IDS_SUFFIX if name.endswith(IDS_SUFFIX) else POLYGONS_SUFFIX
        splits.setdefault(split, []).append(rest[:-len(suffix)])
    return splits


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = base_parser('Convert Cityscapes labels to train ids and write RCS class statistics.',
                       'Cityscapes folder (with leftImg8bit/ and gtFine/)', 'gtFine', 1
                       ).parse_args(argv)
    gt_dir, names = find_labels(args.path, args.gt_dir,
                                lambda n: n.endswith((IDS_SUFFIX, POLYGONS_SUFFIX)), 'Cityscapes',
                                f'*{IDS_SUFFIX} or *{POLYGONS_SUFFIX}', LAYOUT)
    names = [n for n in select_labels(names) if '/' in n]  # files live in <split>/<city>/
    if not names:
        raise UserError(f'no Cityscapes labels in split folders below {gt_dir}\n'
                        f'Expected layout:\n{LAYOUT}')
    # class stats only for the train split, as MIC (its test is "'train/' in path")
    jobs = jobs_beside(gt_dir, names, ['_labelIds.png', '_polygons.json'],
                       counted=lambda name: name.split('/', 1)[0] == 'train')
    mapper = IdMapper(cityscapes_id_to_train_id(), 'Cityscapes label id', args.unknown_as_ignore)
    out_dir = args.out_dir or args.path
    convert_all(jobs, read_cityscapes_label, mapper, args.nproc, out_dir, 'cityscapes')
    for split, stems in split_lists(names).items():
        with open(osp.join(out_dir, f'{split}.txt'), 'w') as f:
            f.writelines(stem + '\n' for stem in stems)


if __name__ == '__main__':
    run_cli(main)
