"""The resumable data stream and the saved random states, checked against direct loops."""
import itertools
import random

import numpy as np
import torch

from mmseg.core.runner.data import ResumableSampler, SeededDataset
from mmseg.core.runner.rng import get_rng_state, set_rng_state


def take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_stream_started_at_k_is_the_tail_of_the_full_stream():
    full = take(ResumableSampler(7, seed=3), 20)  # crosses two epoch boundaries
    resumed = ResumableSampler(7, seed=3)
    resumed.start = 9
    assert take(resumed, 11) == full[9:]


def test_each_epoch_is_a_permutation_split_over_ranks():
    ranks = [ResumableSampler(10, seed=1, rank=r, world_size=2) for r in range(2)]
    epoch0 = [index for r in ranks for index, _ in take(r, 5)]
    assert sorted(epoch0) == list(range(10))
    seeds = [seed for r in ranks for _, seed in take(r, 5)]
    assert len(set(seeds)) == 10  # every sample of every rank gets its own seed


class RandomItem:
    def __getitem__(self, index):
        return index, random.random(), np.random.rand(), torch.rand(()).item()

    def __len__(self):
        return 4


def test_seeded_item_ignores_and_keeps_caller_generators():
    dataset = SeededDataset(RandomItem())
    first = dataset[(2, 123)]
    np.random.seed(5)
    after = np.random.rand()
    np.random.seed(5)
    assert dataset[(2, 123)] == first  # same seed, same draws, whatever the caller's state
    assert np.random.rand() == after   # the caller's stream is untouched


def test_rng_state_survives_weights_only_round_trip(tmp_path):
    state = get_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(3))
    torch.save(state, tmp_path / 'rng.pth')
    set_rng_state(torch.load(tmp_path / 'rng.pth', weights_only=True))
    assert (random.random(), np.random.rand()) == expected[:2]
    assert torch.equal(torch.rand(3), expected[2])
