"""Reading mmcv's JSON training logs (`<work_dir>/<timestamp>.log.json`) into curves."""
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Tuple

from .errors import UserError

Curves = Dict[str, Tuple[List[int], List[float]]]
# Bookkeeping fields of every log line, not curves.
NON_CURVE_KEYS = {'mode', 'epoch', 'iter'}


def load_json_log(path: str) -> Curves:
    """Read one log into {key: (iterations, values)}.

    mmcv writes the evaluation line with `iter` = number of evaluated images, right after the
    training line of the iteration that triggered it, so val values are placed at the iteration
    of the preceding train line. The first line (run meta, no `mode`) is skipped.
    """
    if not osp.isfile(path):
        raise UserError(f'log file {path} does not exist.')
    curves: Curves = defaultdict(lambda: ([], []))
    train_iter = 0
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(f'{path}:{number} is not a JSON log line ({err}); give the '
                                '*.log.json file, not the text log.') from err
            if 'mode' not in entry:
                continue
            if entry['mode'] == 'train':
                train_iter = entry.get('iter', train_iter)
            x = train_iter if entry['mode'] == 'val' else entry.get('iter', train_iter)
            for key, value in entry.items():
                if key in NON_CURVE_KEYS or isinstance(value, bool) \
                        or not isinstance(value, (int, float)):
                    continue
                curves[key][0].append(x)
                curves[key][1].append(float(value))
    return dict(curves)
