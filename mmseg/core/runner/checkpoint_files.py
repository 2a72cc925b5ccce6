"""Checkpoint files on disk: atomic writes, the `latest.pth` link, pruning, finding the newest.

A save first writes `<name>.tmp` and then renames it (`os.replace` is atomic on POSIX), so a
crash or a full disk never leaves a half-written `iter_N.pth`, and an existing good checkpoint
is only removed after a newer one is complete.
"""
import os
import os.path as osp
import re
import shutil
import zipfile
from typing import List, Optional, Tuple

import torch

from ...utils import get_root_logger

ITER_CHECKPOINT = re.compile(r'^iter_(\d+)\.pth$')
LATEST = 'latest.pth'


def atomic_save(obj, path: str) -> None:
    """`torch.save(obj, path)` through a temporary file; `path` is never left incomplete."""
    tmp = f'{path}.tmp'
    try:
        with open(tmp, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def link_latest(out_dir: str, filename: str) -> None:
    """Point `out_dir/latest.pth` at `filename` atomically (a relative symlink, else a copy)."""
    dst = osp.join(out_dir, LATEST)
    tmp = f'{dst}.tmp'
    if osp.lexists(tmp):
        os.remove(tmp)
    try:
        os.symlink(filename, tmp)
    except OSError:  # no symlinks (e.g. Windows without privileges): copy instead
        shutil.copyfile(osp.join(out_dir, filename), tmp)
    os.replace(tmp, dst)


def iter_checkpoints(out_dir: str) -> List[Tuple[int, str]]:
    """(N, path) of every `iter_N.pth` in `out_dir`, oldest first."""
    if not osp.isdir(out_dir):
        return []
    found = []
    for name in os.listdir(out_dir):
        match = ITER_CHECKPOINT.match(name)
        if match:
            found.append((int(match.group(1)), osp.join(out_dir, name)))
    return sorted(found)


def prune_checkpoints(out_dir: str, keep: int, protect: str) -> None:
    """Delete all but the newest `keep` `iter_N.pth` files; `protect` is never deleted."""
    if keep is None or keep <= 0:
        return
    for _, path in iter_checkpoints(out_dir)[:-keep]:
        if osp.abspath(path) != osp.abspath(protect):
            os.remove(path)


def is_complete_checkpoint(path: str) -> bool:
    """Cheap check that a file is a whole torch zip checkpoint (its directory is at the end,
    so a truncated file fails)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return len(zf.namelist()) > 0
    except (OSError, zipfile.BadZipFile):
        return False


def find_latest_checkpoint(work_dir: str) -> Optional[str]:
    """The newest complete `iter_N.pth` in `work_dir` (incomplete ones are skipped), or None."""
    for _, path in reversed(iter_checkpoints(work_dir)):
        if is_complete_checkpoint(path):
            return path
        get_root_logger().warning(f'--auto-resume: skipping {path}, which is incomplete or '
                                  'not a checkpoint')
    return None
