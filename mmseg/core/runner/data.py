"""A training data stream that a resumed run reproduces exactly.

mmcv's `IterLoader` restarts a DataLoader from scratch after a resume, with a fresh shuffle drawn
from the global torch generator and workers seeded from it, so a resumed run sees other data
than the uninterrupted one. Here instead:

- `ResumableSampler` is an endless stream of `(index, sample_seed)` for one process: epoch `e`
  is a permutation seeded by `(seed, e)` and split over the processes like DistributedSampler;
  it starts at `start` samples, which the runner sets to `iteration * samples_per_gpu`.
- `SeededDataset` loads each sample with python/numpy/torch seeded by its own `sample_seed`,
  derived from `(seed, rank, position in the stream)`, and restores the caller's generators
  afterwards. Random augmentation therefore depends neither on the number of workers nor on
  where the run was resumed, and data loading never touches the training step's generators.

Changing the number of processes or `samples_per_gpu` between save and resume changes the
stream (the checkpoint records both; the runner warns).
"""
import math
from functools import partial
from typing import Iterator, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ...utils.collate import collate
from .preemption import ignore_preemption_signals
from .rng import preserved_rng, seed_all


def derive_seed(*entropy: int) -> int:
    """A well-mixed 32-bit seed from several integers (numpy's SeedSequence)."""
    return int(np.random.SeedSequence([int(e) for e in entropy]).generate_state(1)[0])


class ResumableSampler(Sampler):
    """Endless `(index, sample_seed)` stream of one process, resumable at any sample.

    Args:
        size: dataset length (for UDADataset: len(source) * len(target)).
        seed: base seed of the shuffles and of the per-sample seeds.
        shuffle: a new permutation per epoch (False: 0, 1, 2, ...).
        rank, world_size: this process's share; each epoch is padded by repetition to a
            multiple of `world_size` and process r takes positions r, r + world_size, ...
    """

    def __init__(self, size: int, seed: int, shuffle: bool = True, rank: int = 0,
                 world_size: int = 1):
        if size <= 0:
            raise ValueError('the training dataset is empty')
        self.size = size
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.per_rank = math.ceil(size / world_size)
        self.start = 0

    def __len__(self) -> int:
        return self.per_rank

    def epoch_indices(self, epoch: int) -> torch.Tensor:
        """(per_rank,) dataset indices of this process in `epoch`."""
        dtype = torch.int32 if self.size < 2**31 else torch.int64  # halves memory for UDA's
        if self.shuffle:                                           # len(src) * len(tgt)
            gen = torch.Generator().manual_seed(derive_seed(self.seed, epoch))
            order = torch.randperm(self.size, generator=gen, dtype=dtype)
        else:
            order = torch.arange(self.size, dtype=dtype)
        padding = self.per_rank * self.world_size - self.size
        if padding:
            order = torch.cat([order, order[:padding]])
        return order[self.rank::self.world_size]

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        epoch, offset = divmod(self.start, self.per_rank)
        while True:
            indices = self.epoch_indices(epoch)
            for i in range(offset, self.per_rank):
                position = epoch * self.per_rank + i
                yield int(indices[i]), derive_seed(self.seed, self.rank, position)
            epoch, offset = epoch + 1, 0


class SeededDataset(Dataset):
    """Loads `dataset[index]` for an `(index, sample_seed)` item under that seed.

    Other attributes (CLASSES, PALETTE, ...) are those of the wrapped dataset.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: Tuple[int, int]):
        index, sample_seed = item
        with preserved_rng():
            seed_all(sample_seed)
            return self.dataset[index]

    def __getattr__(self, name):
        if name.startswith('__') or name == 'dataset':
            raise AttributeError(name)
        return getattr(self.dataset, name)


def build_resumable_dataloader(dataset: Dataset, samples_per_gpu: int, workers_per_gpu: int,
                               seed: int, rank: int = 0, world_size: int = 1,
                               shuffle: bool = True) -> DataLoader:
    """Training DataLoader of one process: `samples_per_gpu` items per batch (mmcv collate)."""
    sampler = ResumableSampler(len(dataset), seed, shuffle, rank, world_size)
    return DataLoader(
        SeededDataset(dataset), batch_size=samples_per_gpu, sampler=sampler,
        num_workers=workers_per_gpu, collate_fn=partial(collate, samples_per_gpu=samples_per_gpu),
        pin_memory=torch.cuda.is_available(), drop_last=True,
        persistent_workers=workers_per_gpu > 0, worker_init_fn=ignore_preemption_signals,
        # The loader draws its workers' base seed from this generator, not the global one.
        generator=torch.Generator().manual_seed(derive_seed(seed, rank)))
