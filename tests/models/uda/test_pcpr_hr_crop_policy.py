"""PCPR's HR detail-crop policy maps and boxes (`mmseg/models/utils/hr_crop_policy.py`)."""
import math

import numpy as np
import pytest
import torch

from mmseg.models.utils.hr_crop_policy import (box_from_score, centred_box, entropy_map,
                                               max_score_box, thing_map)


def brute_force_best_box(score, crop, divisible):
    best, best_sum = None, -1.0
    for y in range(0, (score.shape[0] - crop[0] + 1) // divisible * divisible, divisible):
        for x in range(0, (score.shape[1] - crop[1] + 1) // divisible * divisible, divisible):
            total = float(score[y:y + crop[0], x:x + crop[1]].sum())
            if total > best_sum + 1e-9:
                best, best_sum = (y, y + crop[0], x, x + crop[1]), total
    return best


@pytest.mark.parametrize('seed,divisible', [(0, 1), (1, 2), (2, 4)])
def test_max_score_box_is_the_admissible_box_of_largest_sum(seed, divisible):
    score = torch.rand(20, 28, generator=torch.Generator().manual_seed(seed))
    assert max_score_box(score, (8, 12), divisible) == brute_force_best_box(score, (8, 12),
                                                                            divisible)


def test_max_score_box_keeps_hrdas_largest_offset():
    """HRDA never draws offset 8 for a margin of 8 with divisible 4 (randint excludes it)."""
    score = torch.zeros(16, 16)
    score[-1, -1] = 5  # only inside the box at offset 8
    score[11, 11] = 1  # inside the box at offset 4
    assert max_score_box(score, (8, 8), 4) == (4, 12, 4, 12)


def test_centred_box_centres_on_the_pixel_and_clamps_at_the_border():
    assert centred_box(10, 12, 32, 32, (8, 8), 1) == (6, 14, 8, 16)
    assert centred_box(0, 31, 32, 32, (8, 8), 1) == (0, 8, 24, 32)
    assert centred_box(10, 10, 32, 32, (8, 8), 4) == (4, 12, 4, 12)  # nearest admissible


def test_entropy_map_is_the_batch_mean_of_the_pixel_entropy():
    logits = torch.zeros(2, 4, 1, 2)
    logits[0, 0, 0, 1] = 100  # certain pixel in image 0
    weight = torch.tensor([[[1.0, 1.0]], [[0.0, 1.0]]])
    expected = torch.tensor([[math.log(4) / 2, math.log(4) / 2]])
    torch.testing.assert_close(entropy_map(logits, weight), expected)
    torch.testing.assert_close(entropy_map(logits), torch.tensor([[math.log(4), math.log(4) / 2]]))


def test_thing_map_is_the_fraction_of_images_with_a_small_thing_class():
    label = torch.tensor([[[11, 0], [6, 255]], [[11, 13], [0, 0]]])
    torch.testing.assert_close(thing_map(label, (6, 11)),
                               torch.tensor([[1.0, 0.0], [0.5, 0.0]]))


def test_things_box_is_centred_on_a_marked_pixel():
    score = torch.zeros(32, 32)
    score[20, 5] = 1
    np.random.seed(0)
    assert box_from_score('things', score, (8, 8), 1) == (16, 24, 1, 9)


def test_an_empty_map_leaves_the_crop_to_hrdas_uniform_draw():
    assert box_from_score('entropy', torch.zeros(8, 8), (4, 4), 1) is None
    assert box_from_score('things', torch.zeros(8, 8), (4, 4), 1) is None
