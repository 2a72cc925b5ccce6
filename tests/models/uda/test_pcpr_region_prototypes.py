"""Region anchors of `fpc.granularity='region'`: 8-connected class components and their means."""
from collections import deque

import pytest
import torch
import torch.nn.functional as F

from mmseg.models.uda.region_prototypes import connected_components, region_anchors


def bfs_components(label, ignore_index=255):
    """Reference: breadth-first search over the 8 neighbours; returns a set of pixel sets."""
    h, w = len(label), len(label[0])
    seen, regions = set(), set()
    for y in range(h):
        for x in range(w):
            if (y, x) in seen or label[y][x] == ignore_index:
                continue
            region, queue = set(), deque([(y, x)])
            seen.add((y, x))
            while queue:
                cy, cx = queue.popleft()
                region.add((cy, cx))
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny, nx = cy + dy, cx + dx
                        if 0 <= ny < h and 0 <= nx < w and (ny, nx) not in seen \
                                and label[ny][nx] == label[y][x]:
                            seen.add((ny, nx))
                            queue.append((ny, nx))
            regions.add(frozenset(region))
    return regions


def as_regions(ids):
    regions = {}
    for (y, x), v in zip(torch.cartesian_prod(torch.arange(ids.shape[0]),
                                              torch.arange(ids.shape[1])).tolist(),
                         ids.flatten().tolist()):
        if v:
            regions.setdefault(v, set()).add((y, x))
    return {frozenset(r) for r in regions.values()}


@pytest.mark.parametrize('seed', range(4))
def test_components_equal_a_breadth_first_search(seed):
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, 3, (12, 15), generator=g)
    label[torch.rand(12, 15, generator=g) < 0.1] = 255
    assert as_regions(connected_components(label)) == bfs_components(label.tolist())


def test_diagonal_neighbours_are_connected_and_ignore_is_zero():
    label = torch.tensor([[1, 0, 255],
                          [0, 1, 0],
                          [0, 0, 1]])
    ids = connected_components(label)
    assert ids[0, 0] == ids[1, 1] == ids[2, 2] != 0
    assert ids[0, 2] == 0
    assert ids[0, 1] == ids[2, 0]  # the 0s around the diagonal touch through (1, 0)


def test_region_anchor_is_the_normalised_mean_of_its_embeddings():
    label = torch.tensor([[0, 0, 1],
                          [0, 2, 1],
                          [255, 2, 1]])
    emb = F.normalize(torch.randn(3, 3, 4), dim=-1).requires_grad_()
    anchors, classes = region_anchors(emb, label, min_area=3, max_regions=10)
    assert sorted(classes.tolist()) == [0, 1]  # class 2 has 2 cells < min_area
    zero = classes.tolist().index(0)
    expected = F.normalize(emb[[0, 0, 1], [0, 1, 0]].mean(0), dim=0)
    torch.testing.assert_close(anchors[zero], expected)
    anchors.sum().backward()
    assert emb.grad[0, 0].abs().sum() > 0 and emb.grad[2, 0].abs().sum() == 0


def test_only_the_largest_regions_are_kept():
    label = torch.tensor([[0, 0, 0, 255, 1, 255, 2, 2]])
    _, classes = region_anchors(torch.randn(1, 8, 2), label, min_area=1, max_regions=2)
    assert classes.tolist() == [0, 2]
