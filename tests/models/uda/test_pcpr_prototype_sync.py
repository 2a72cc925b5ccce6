"""Prototype memory stays identical across processes (docs/method/pcpr.md, "Prototype memory")."""
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from mmseg.models.uda.prototypes import PrototypeMemory

C, K, D = 3, 2, 4


def _local_batches(rank):
    """Different anchors per rank. Step 0: rank 0 alone has < K anchors of class 0, together
    the ranks have >= K; class 1 has one anchor in total. Step 1: fixed assignments."""
    g = torch.Generator().manual_seed(100 + rank)
    init = (F.normalize(torch.randn(1 + rank, D, generator=g), dim=1),
            torch.tensor([0] * (1 + rank)))
    if rank == 0:
        init = (torch.cat([init[0], F.normalize(torch.randn(1, D, generator=g), dim=1)]),
                torch.tensor([0, 1]))
    fixed = (F.normalize(torch.randn(3, D, generator=g), dim=1), torch.tensor([0, 0, 0]),
             torch.tensor([rank % 2, 1, 0]))
    return init, fixed, g


def _run_steps(memory, init, fixed, generator):
    anchors, labels = init
    memory.update(anchors, labels, memory.assign(anchors, labels), generator)
    after_init = memory.prototypes.clone()
    memory.update(*fixed, generator)
    return after_init, memory.prototypes.clone()


def _worker(rank, world, init_file, out_dir):
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world)
    torch.manual_seed(rank)  # different global RNG per rank on purpose
    memory = PrototypeMemory(C, K, D, momentum=0.5)
    init, fixed, g = _local_batches(rank)
    after_init, after_fixed = _run_steps(memory, init, fixed, torch.Generator().manual_seed(rank))
    for _ in range(3):  # free-running steps with local Sinkhorn assignment
        anchors = F.normalize(torch.randn(12, D, generator=g), dim=1)
        labels = torch.randint(0, C, (12,), generator=g)
        memory.update(anchors, labels, memory.assign(anchors, labels))
    torch.save(dict(after_init=after_init, after_fixed=after_fixed,
                    final=memory.state_dict()), f'{out_dir}/rank{rank}.pt')
    dist.destroy_process_group()


@pytest.mark.slow
def test_prototypes_are_equal_across_ranks_and_match_single_process_on_all_anchors(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / 'init'), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f'rank{r}.pt') for r in range(2))
    assert torch.equal(r0['final']['prototypes'], r1['final']['prototypes'])
    assert torch.equal(r0['final']['initialized'], r1['final']['initialized'])
    assert torch.equal(r0['after_init'], r1['after_init'])
    # One process fed both ranks' anchors (rank order) with rank 0's generator computes the same.
    (i0, f0, _), (i1, f1, _) = _local_batches(0), _local_batches(1)
    single = PrototypeMemory(C, K, D, momentum=0.5)
    init = (torch.cat([i0[0], i1[0]]), torch.cat([i0[1], i1[1]]))
    fixed = tuple(torch.cat([a, b]) for a, b in zip(f0, f1))
    after_init, after_fixed = _run_steps(single, init, fixed, torch.Generator().manual_seed(0))
    assert torch.equal(after_init, r0['after_init'])
    assert single.initialized.tolist() == [True, False, False]
    assert torch.allclose(after_fixed, r0['after_fixed'], atol=1e-6)
    assert torch.equal(r0['after_fixed'], r1['after_fixed'])
