"""Shared machinery of the label converters (gta.py, cityscapes.py, synthia.py).

A converter lists its label files, reads each into an id map, maps ids to train ids through a
numpy lookup table, writes `*_labelTrainIds.png` next to the input and returns per-file class
pixel counts, from which the rare-class-sampling files of MIC are written:
`sample_class_stats.json`, `sample_class_stats_dict.json` and `samples_with_class.json`.

Reruns are cheap: an output newer than its input is not rewritten, and its counts come from a
cache (`.class_stats_cache.json`, validated by the output's size and mtime) or, failing that,
from re-reading the output.
"""
import argparse
import dataclasses
import json
import multiprocessing
import os
import os.path as osp
import sys
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from mmseg.utils.errors import UserError, run_cli  # noqa: F401 (run_cli: for the scripts)

IGNORE = 255
NUM_CLASSES = 19
CACHE_NAME = '.class_stats_cache.json'
TRAIN_ID_SUFFIX = '_labelTrainIds.png'

Reader = Callable[[str], np.ndarray]
ClassCounts = Dict[str, int]


def cityscapes_id_to_train_id() -> Dict[int, int]:
    """Cityscapes label id -> train id from cityscapesscripts' table (trainId 255/-1 -> 255).

    The license plate has id -1, which a uint8 label image can only hold as 255: 255 -> 255.
    """
    from cityscapesscripts.helpers.labels import labels
    table = {lab.id: lab.trainId if 0 <= lab.trainId < IGNORE else IGNORE
             for lab in labels if lab.id >= 0}
    table[IGNORE] = IGNORE
    return table


class IdMapper:
    """Maps an id image to train ids with a numpy lookup table; unknown ids are a UserError.

    table: id -> train id. dataset: name used in messages. unknown_as_ignore: map unknown ids
    to 255 instead of failing (MIC's silent behaviour).
    """

    def __init__(self, table: Mapping[int, int], dataset: str, unknown_as_ignore: bool = False):
        self.dataset = dataset
        self.unknown_as_ignore = unknown_as_ignore
        self.table = dict(table)
        # one entry per 16-bit value, so any uint8/uint16 image is a single lookup; -1 = unknown
        self.lut = np.full(1 << 16, -1, np.int16)
        for label_id, train_id in self.table.items():
            self.lut[label_id] = train_id

    def __getstate__(self) -> dict:
        return dict(self.__dict__, lut=None)  # rebuilt in the worker, not pickled per chunk

    def __setstate__(self, state: dict) -> None:
        self.__init__(state['table'], state['dataset'], state['unknown_as_ignore'])

    def __call__(self, ids: np.ndarray, path: str) -> np.ndarray:
        """ids (H, W) uint8 or uint16 -> train ids (H, W) uint8."""
        if ids.dtype not in (np.uint8, np.uint16):
            raise UserError(f'{path}: {self.dataset} labels must hold 8- or 16-bit unsigned ids, '
                            f'got {ids.dtype}.')
        train = self.lut[ids]
        unknown = train < 0
        if unknown.any():
            if not self.unknown_as_ignore:
                bad = np.unique(ids[unknown])
                shown = ', '.join(str(v) for v in bad[:10]) + (' ...' if len(bad) > 10 else '')
                raise UserError(
                    f'{path}: label ids {shown} are not in the {self.dataset} id table '
                    f'(known ids: {sorted(self.table)}). Is this a {self.dataset} label file? '
                    'Pass --unknown-as-ignore to map unknown ids to 255 (ignored), as MIC does '
                    'silently.')
            train[unknown] = IGNORE
        return train.astype(np.uint8)


def class_counts(train_ids: np.ndarray) -> ClassCounts:
    """Pixel count per train id 0..18 present (n > 0), keys as the JSON strings MIC writes."""
    counts = np.bincount(train_ids.ravel(), minlength=256)
    return {str(c): int(counts[c]) for c in range(NUM_CLASSES) if counts[c] > 0}


def read_single_channel_png(path: str, dataset: str, expected: str) -> np.ndarray:
    """A label PNG as stored values (palette indices for mode P), (H, W); other modes fail."""
    try:
        with Image.open(path) as img:
            if img.mode not in ('P', 'L'):
                raise UserError(f'{path}: expected {expected}, got a PIL mode {img.mode!r} image '
                                f'with {len(img.getbands())} channel(s). Is this a {dataset} '
                                'label file?')
            return np.asarray(img)
    except (OSError, SyntaxError, ValueError) as exc:
        raise UserError(f'{path}: cannot read this {dataset} label image ({exc}).') from None


@dataclasses.dataclass(frozen=True)
class Job:
    """One label file: src is read (never written), dst receives the train ids.

    stats_file: the 'file' entry of the stats (None: the file is converted but not counted).
    cached: (size, mtime_ns, counts) of a previous run's dst, if known.
    """
    src: str
    dst: str
    stats_file: Optional[str]
    cached: Optional[Tuple[int, int, ClassCounts]] = None


@dataclasses.dataclass(frozen=True)
class Result:
    stats_file: Optional[str]
    dst: str
    counts: Optional[ClassCounts]
    converted: bool


class Worker:
    """Picklable per-file task: read -> map -> write (skipped when dst is up to date) -> count."""

    def __init__(self, read: Reader, mapper: IdMapper):
        self.read, self.mapper = read, mapper

    def __call__(self, job: Job) -> Result:
        if job.dst == job.src:
            raise UserError(f'{job.src}: refusing to overwrite an input label file.')
        if is_up_to_date(job.src, job.dst):
            return Result(job.stats_file, job.dst, self._counts_of_existing(job), False)
        train = self.mapper(self.read(job.src), job.src)
        tmp = job.dst + '.tmp.png'  # written then renamed: an interrupted run leaves no stub
        Image.fromarray(train).save(tmp)
        os.replace(tmp, job.dst)
        counts = class_counts(train) if job.stats_file is not None else None
        return Result(job.stats_file, job.dst, counts, True)

    @staticmethod
    def _counts_of_existing(job: Job) -> Optional[ClassCounts]:
        if job.stats_file is None:
            return None
        st = os.stat(job.dst)
        if job.cached is not None and job.cached[:2] == (st.st_size, st.st_mtime_ns):
            return dict(job.cached[2])
        with Image.open(job.dst) as img:
            return class_counts(np.asarray(img))


def is_up_to_date(src: str, dst: str) -> bool:
    """True when dst exists and is at least as new as src."""
    return osp.isfile(dst) and os.stat(dst).st_mtime_ns >= os.stat(src).st_mtime_ns


def require_dir(path: str, what: str, layout: str) -> None:
    """UserError naming the missing folder and the expected layout."""
    if not osp.isdir(path):
        raise UserError(f'{what} not found: {path}\nExpected layout:\n{layout}')


def scan(root: str, accept: Callable[[str], bool]) -> List[str]:
    """Sorted paths (relative to root, '/'-separated) of files below root that `accept`."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        rel = osp.relpath(folder, root)
        for name in files:
            if accept(name):
                found.append(name if rel == '.' else f'{rel}/{name}'.replace(os.sep, '/'))
    return sorted(found)


def ends_in_digit_png(name: str) -> bool:
    """GTA/Synthia label names end in a digit + .png (our `_labelTrainIds.png` outputs do not)."""
    return name.endswith('.png') and name[-5:-4].isdigit()


def jobs_beside(label_dir: str, names: Sequence[str], in_suffixes: Sequence[str],
                counted: Callable[[str], bool] = lambda name: True) -> List[Job]:
    """Jobs writing `<stem>_labelTrainIds.png` next to each `<stem><one of in_suffixes>` input.

    The stats 'file' is that output path as built from the CLI path, as MIC records it.
    """
    jobs = []
    for name in names:
        suffix = next(s for s in in_suffixes if name.endswith(s))
        src = osp.join(label_dir, name)
        dst = src[:-len(suffix)] + TRAIN_ID_SUFFIX
        jobs.append(Job(src, dst, stats_file=dst if counted(name) else None))
    return jobs


def find_labels(path: str, gt_dir: str, accept: Callable[[str], bool], dataset: str,
                pattern: str, layout: str) -> Tuple[str, List[str]]:
    """(label folder, its label files relative to it); UserError when missing or empty.

    layout: the expected folder layout, with <PATH> standing for `path`.
    """
    layout = layout.replace('<PATH>', path.rstrip('/'))
    require_dir(path, f'{dataset} folder', layout)
    labels = osp.join(path, gt_dir)
    require_dir(labels, f'{dataset} label folder', layout)
    names = scan(labels, accept)
    if not names:
        raise UserError(f'no {dataset} label files ({pattern}) below {labels}\n'
                        f'Expected layout:\n{layout}')
    return labels, names


def load_cache(out_dir: str) -> Dict[str, list]:
    path = osp.join(out_dir, CACHE_NAME)
    if not osp.isfile(path):
        return {}
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}  # a broken cache only costs re-reading the outputs


def convert_all(jobs: Sequence[Job], read: Reader, mapper: IdMapper, nproc: int, out_dir: str,
                desc: str) -> List[ClassCounts]:
    """Run every job (in a pool of nproc processes, with a progress bar) and write the stats.

    Returns the sample_class_stats entries (counts + 'file'), in job order.
    """
    cache = load_cache(out_dir)
    jobs = [dataclasses.replace(j, cached=tuple(cache[j.stats_file]))
            if j.stats_file in cache else j for j in jobs]
    worker = Worker(read, mapper)
    bar = dict(total=len(jobs), desc=desc, unit='file', file=sys.stderr)
    if nproc > 1 and len(jobs) > 1:
        with multiprocessing.Pool(nproc) as pool:
            chunk = max(1, len(jobs) // (nproc * 16))
            results = list(tqdm(pool.imap(worker, jobs, chunksize=chunk), **bar))
    else:
        results = [worker(j) for j in tqdm(jobs, **bar)]
    stats, new_cache = [], {}
    for res in results:
        if res.counts is None:
            continue
        stats.append(dict(res.counts, file=res.stats_file))
        st = os.stat(res.dst)
        new_cache[res.stats_file] = [st.st_size, st.st_mtime_ns, res.counts]
    os.makedirs(out_dir, exist_ok=True)
    write_class_stats(out_dir, stats)
    with open(osp.join(out_dir, CACHE_NAME), 'w') as f:
        json.dump(new_cache, f)
    done = sum(r.converted for r in results)
    print(f'{desc}: converted {done}, up to date {len(results) - done}; '
          f'class stats of {len(stats)} files in {out_dir}')
    return stats


def write_class_stats(out_dir: str, sample_class_stats: Sequence[Mapping]) -> None:
    """MIC's three RCS files from per-file entries {class: count, ..., 'file': path}."""
    with open(osp.join(out_dir, 'sample_class_stats.json'), 'w') as f:
        json.dump(list(sample_class_stats), f, indent=2)
    per_file = {s['file']: {c: n for c, n in s.items() if c != 'file'}
                for s in sample_class_stats}
    with open(osp.join(out_dir, 'sample_class_stats_dict.json'), 'w') as f:
        json.dump(per_file, f, indent=2)
    with_class: Dict[str, list] = {}
    for file, counts in per_file.items():
        for c, n in counts.items():
            with_class.setdefault(c, []).append([file, n])
    with open(osp.join(out_dir, 'samples_with_class.json'), 'w') as f:
        json.dump(with_class, f, indent=2)


def base_parser(description: str, path_help: str, gt_dir: str, nproc: int
                ) -> argparse.ArgumentParser:
    """The CLI every converter shares: PATH, --gt-dir, -o/--out-dir, --nproc."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('path', help=path_help)
    parser.add_argument('--gt-dir', default=gt_dir, help=f'label folder below PATH ({gt_dir})')
    parser.add_argument('-o', '--out-dir', help='folder for the stats files (default: PATH)')
    parser.add_argument('--nproc', type=int, default=nproc, help='number of processes')
    parser.add_argument('--unknown-as-ignore', action='store_true',
                        help='map ids missing from the id table to 255 instead of failing')
    return parser

