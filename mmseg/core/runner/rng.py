"""Random-number-generator states as plain data, so checkpoints can restore them exactly.

The states are stored as lists, ints and tensors only, which `torch.load(weights_only=True)`
accepts (numpy's state tuple holds an ndarray, which it does not).
"""
import random
import zlib
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch


def get_rng_state() -> dict:
    """Python `random`, numpy's global generator, torch CPU and (if in use) every CUDA device."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(python=[version, list(internal), gauss],
                 numpy=dict(kind=kind, keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
                            has_gauss=int(has_gauss), cached_gaussian=float(cached)),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()  # this process's GPU only
    return state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by `get_rng_state`; CUDA's on this process's current GPU.

    Older checkpoints hold one CUDA state per visible GPU; the current GPU's is used (the
    first if there were fewer), so a checkpoint resumes with any number of visible GPUs.
    """
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    np_state = state['numpy']
    np.random.set_state((np_state['kind'], np_state['keys'].numpy().astype(np.uint32),
                         np_state['pos'], np_state['has_gauss'], np_state['cached_gaussian']))
    torch.set_rng_state(state['torch'])
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available():
        if isinstance(cuda, (list, tuple)):
            current = torch.cuda.current_device()
            cuda = cuda[current] if current < len(cuda) else cuda[0]
        torch.cuda.set_rng_state(cuda)


def resume_rng_state(state: dict) -> bool:
    """`set_rng_state` for a resumed run; True if the CUDA generator had to be seeded.

    A state saved without CUDA (by a CPU run) has no CUDA generator to restore; resumed on a
    GPU, the CUDA generator is then seeded from the saved CPU state, so that the resumed run
    is reproducible instead of replaying the draws the run made at its start.
    """
    set_rng_state(state)
    if state.get('cuda') is not None or not torch.cuda.is_initialized():
        return False
    torch.cuda.manual_seed(zlib.crc32(state['torch'].numpy().tobytes()))
    return True


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) with one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without changing the caller's random streams (its draws are forgotten).

    Used around hooks and data loading so that evaluation, logging or checkpointing at some
    iteration does not shift the random numbers the training step draws afterwards.
    """
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
