"""Finer prototype construction (FPC) of PCPR: projection head, anchors, sub-prototype memory.

docs/method/pcpr.md, "Finer prototype construction (FPC)": decoder features are projected to unit
vectors (`ProjectionHead`), labels are brought to feature resolution (`downscale_labels`),
unreliable target pixels are removed (`denoise_labels`), a class-balanced hard/easy subset of pixels
is sampled as anchors (`sample_anchors`), and each anchor is assigned by balanced Sinkhorn-Knopp
assignment to one of the K sub-prototypes of its class (`PrototypeMemory`), which then move by
momentum toward their anchors. The losses live in `mmseg/models/losses/prototype_contrast.py`.
"""
from typing import Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from ..builder import HEADS
from ..utils.label_downscale import downscale_label_ratio
from ...utils.errors import UserError

IGNORE_INDEX = 255
# Stream ids of `own_seed`: PCPR's own random draws, kept apart from the global stream.
PROJ_HEAD_STREAM, ANCHOR_STREAM = 1, 2


def own_seed(stream: int, *keys: int) -> int:
    """A 63-bit seed for one of PCPR's own random streams, from the run's seed
    (`torch.initial_seed()`, set by `--seed`) and `keys` (e.g. iteration and rank).

    PCPR's draws (projection-head init, anchors, k-means++) come from generators seeded
    this way instead of the global generator, which then holds exactly MIC's draws.
    """
    state = np.random.SeedSequence([torch.initial_seed(), stream, *keys]).generate_state(
        2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


@HEADS.register_module()
class ProjectionHead(nn.Module):
    """Projects decoder features to unit vectors for the prototype losses (training only).

    1x1 conv (C -> C), norm, ReLU, 1x1 conv (C -> proj_dim), L2 normalisation over channels.

    Args:
        in_channels: C, the decoder's fused feature channels (256 for DAFormer).
        proj_dim: D, the embedding size.
        norm_cfg: mmcv norm config of the hidden layer.
    """

    def __init__(self, in_channels: int = 256, proj_dim: int = 256,
                 norm_cfg: Optional[dict] = None):
        super().__init__()
        norm_cfg = dict(type='BN', requires_grad=True) if norm_cfg is None else norm_cfg
        # Initialised from its own seed, off the global stream: a PCPR run then starts from the
        # same weights and draws the same masks and jitter as the MIC run of the same seed, so
        # that their paired difference measures the method, not a reshuffled random stream.
        # (Built on the CPU: only the CPU generator is forked and seeded, CUDA's is untouched.)
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(own_seed(PROJ_HEAD_STREAM))
            self.hidden = ConvModule(in_channels, in_channels, 1, norm_cfg=norm_cfg,
                                     act_cfg=dict(type='ReLU'))
            self.proj = nn.Conv2d(in_channels, proj_dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, h, w) features -> (B, D, h, w) embeddings of unit L2 norm along D."""
        return F.normalize(self.proj(self.hidden(x)), p=2, dim=1)


def downscale_labels(label: Tensor, feat_hw: tuple, min_ratio: float,
                     num_classes: int) -> Tensor:
    """Labels at feature resolution by DAFormer's purity rule (`downscale_label_ratio`).

    A block of `s x s` label pixels takes its majority class if it covers >= `min_ratio` of the
    block, else 255. Requires the label size to be the same integer multiple `s` of the feature
    size in both dimensions (true for crops divisible by the output stride).

    Args:
        label: (B, 1, H, W) integer labels.
        feat_hw: (h, w) of the feature map.
    Returns:
        (B, 1, h, w) long labels.
    """
    height, width = label.shape[-2:]
    feat_h, feat_w = feat_hw
    scale = height // feat_h
    if height % feat_h or width % feat_w or width // feat_w != scale:
        raise UserError(f'FPC label downscaling needs the label size {height}x{width} to be one '
                        f'integer multiple of the feature size {feat_h}x{feat_w}; use crop sizes '
                        f'divisible by the decoder output stride (uda.fpc.proto_scale and '
                        f'crop_size in the config)')
    return downscale_label_ratio(label, scale, min_ratio, num_classes)


def denoise_labels(label: Tensor, reliability: Tensor, confidence: Tensor, from_target: Tensor,
                   reliable_weight: float, pseudo_threshold: float,
                   ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Feature denoising: drop target pixels whose pseudo-label is not trustworthy for anchors.

    A pixel taken from the target image keeps its label only if
    `reliability >= reliable_weight` (reliability = m_cons * m_edge) and
    `confidence >= pseudo_threshold`; source pixels are kept as they are.

    Args:
        label: (B, 1, H, W) mixed label.
        reliability, confidence: (B, H, W) PLF maps of the target image.
        from_target: (B, H, W) bool, True where the mixed pixel comes from the target image.
    Returns:
        (B, 1, H, W) copy of `label` with 255 on unreliable target pixels.
    """
    unreliable = from_target.bool() & ((reliability < reliable_weight)
                                       | (confidence < pseudo_threshold))
    return label.masked_fill(unreliable.unsqueeze(1), ignore_index)


def sample_anchors(labels: Tensor, preds: Tensor, max_samples: int, max_views: int,
                   min_views: int, generator: Optional[torch.Generator] = None,
                   ignore_index: int = IGNORE_INDEX,
                   num_classes: Optional[int] = None) -> Tensor:
    """Class-balanced hard/easy anchor sampling (feature enhancement); returns indices.

    A pixel is *hard* if the (detached) prediction differs from its label. Classes with fewer
    than `min_views` valid pixels are skipped. Every other class gets
    `take = min(count, budget)`, `budget = min(max_views, max_samples // n_classes_kept)`, split
    into `take // 2` hard and `take - take // 2` easy pixels; when one kind is short, all of it is
    taken and the other kind fills the rest. Pixels are drawn uniformly without replacement within
    each (class, kind) group, all groups at once (one random key per pixel, one sort).

    Args:
        labels: (N,) long labels (255 = not an anchor candidate).
        preds: (N,) long predictions.
        generator: torch.Generator on `labels.device`, for reproducible draws.
        num_classes: C (labels < C); found from the labels when None.
    Returns:
        (M,) long indices into the N pixels, M <= max_samples, grouped by class.
    """
    valid = labels != ignore_index
    if num_classes is None:  # two host syncs; callers that know C pass it
        if not bool(valid.any()):
            return labels.new_zeros(0)
        num_classes = int(labels[valid].max()) + 1
    hard = (preds != labels).long()
    group = torch.where(valid, labels * 2 + hard, torch.full_like(labels, 2 * num_classes))
    group_size = torch.bincount(group, minlength=2 * num_classes + 1)
    group_count = group_size[:-1].view(-1, 2)
    easy_count, hard_count = group_count[:, 0], group_count[:, 1]
    class_count = easy_count + hard_count
    kept = class_count >= min_views
    n_kept = int(kept.sum())
    if n_kept == 0:
        return labels.new_zeros(0)
    budget = min(max_views, max_samples // n_kept)
    take = torch.where(kept, class_count.clamp_max(budget), torch.zeros_like(class_count))
    # Half hard; if easy pixels are short, hard ones fill in (and take <= easy + hard).
    hard_quota = torch.minimum(hard_count, torch.maximum(take // 2, take - easy_count))
    quota = torch.stack([take - hard_quota, hard_quota], dim=1).view(-1)
    quota = torch.cat([quota, quota.new_zeros(1)])  # the ignore group takes nothing
    # Rank of every pixel inside its group in a random order: shuffle, then stable-sort by group.
    keys = torch.rand(labels.shape[0], generator=generator, device=labels.device)
    order = keys.argsort()
    order = order[group[order].argsort(stable=True)]
    sorted_group = group[order]
    group_start = torch.cumsum(group_size, 0) - group_size
    rank = torch.arange(labels.shape[0], device=labels.device) - group_start[sorted_group]
    return order[rank < quota[sorted_group]]


def sinkhorn_knopp(scores: Tensor, iters: int = 3, epsilon: float = 0.05) -> Tensor:
    """Balanced soft assignment of N samples to K clusters (SwAV's Sinkhorn-Knopp).

    `Q = exp(scores / epsilon)`, then `iters` rounds of: scale the columns to sum N/K each
    (equal cluster mass), scale the rows to sum 1 each (one unit per sample). The result's
    rows sum to 1 exactly and its columns to about N/K (exactly in the limit of iterations).

    Args:
        scores: (N, K) similarities (cosine in PCPR).
    Returns:
        (N, K) float assignment probabilities.
    """
    logits = scores.float() / epsilon
    # A global shift cancels in the normalisations and keeps exp() finite.
    q = torch.exp(logits - logits.max())
    num, k = q.shape
    for _ in range(iters):
        q = q / q.sum(dim=0, keepdim=True) * (num / k)
        q = q / q.sum(dim=1, keepdim=True)
    return q


def kmeanspp_init(x: Tensor, k: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """k-means++ seeding: indices of k distinct rows of x (N, D), N >= k.

    The first seed is uniform; each next one is drawn with probability proportional to the
    squared distance to its nearest seed. If all remaining points coincide with seeds, the next
    seed is drawn uniformly among the points not chosen yet, so the indices stay distinct.

    Returns:
        (k,) long indices.
    """
    num = x.shape[0]
    if num < k:
        raise ValueError(f'k-means++ needs at least k={k} points, got {num}')
    x = x.float()
    chosen = torch.zeros(num, dtype=torch.bool, device=x.device)
    dist2 = torch.full((num,), float('inf'), device=x.device)
    indices = []
    weights = torch.ones(num, device=x.device)
    for _ in range(k):
        idx = torch.multinomial(weights, 1, generator=generator)
        indices.append(idx)
        chosen[idx] = True
        dist2 = torch.minimum(dist2, (x - x[idx]).pow(2).sum(dim=1))
        weights = dist2.masked_fill(chosen, 0.0)
        if not bool((weights > 0).any()):
            weights = (~chosen).float()
    return torch.cat(indices)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class PrototypeMemory(nn.Module):
    """K unit-norm sub-prototypes per class, moved by momentum (not by gradient).

    Buffers (in `state_dict`, so checkpoints carry them; the EMA teacher's copy is unused):
    `prototypes` (C, K, D) unit vectors and `initialized` (C,) bool. Until a class is
    initialised its prototypes are placeholders (a fixed seeded draw, identical in every
    process) that are masked out of `logits`.

    Order of use in one iteration (every process calls `update`, even with no anchors, because it
    runs collectives in distributed training):
        k = memory.assign(e, y)                  # -1 for classes not initialised yet
        use = k >= 0;  logits = memory.logits(e[use])   -> L_cont, L_cons on those anchors
        memory.update(e.detach(), y, k)          # momentum step and first-time initialisation

    Distributed: the per-(class, k) anchor sums and counts and the per-class candidate counts
    are all-reduced in one call, so the momentum step is the same deterministic function of the
    same numbers in every process. A class is initialised when its *global* candidate count
    reaches K: the candidates of all processes are all-gathered (in rank order), k-means++ runs
    on them, and rank 0's result is broadcast so that the random draws cannot diverge.

    Args:
        num_classes: C.
        num_prototypes: K sub-prototypes per class.
        proj_dim: D, the embedding size.
        momentum: m in `p <- normalize(m * p + (1 - m) * normalize(mean of assigned anchors))`.
        sinkhorn_iters, sinkhorn_epsilon: of the balanced assignment.
    """

    def __init__(self, num_classes: int, num_prototypes: int = 10, proj_dim: int = 256,
                 momentum: float = 0.999, sinkhorn_iters: int = 3,
                 sinkhorn_epsilon: float = 0.05):
        super().__init__()
        self.num_classes = num_classes
        self.num_prototypes = num_prototypes
        self.proj_dim = proj_dim
        self.momentum = momentum
        self.sinkhorn_iters = sinkhorn_iters
        self.sinkhorn_epsilon = sinkhorn_epsilon
        placeholder = torch.randn(num_classes, num_prototypes, proj_dim,
                                  generator=torch.Generator().manual_seed(0))
        self.register_buffer('prototypes', F.normalize(placeholder, dim=-1))
        self.register_buffer('initialized', torch.zeros(num_classes, dtype=torch.bool))

    def assign(self, anchors: Tensor, labels: Tensor) -> Tensor:
        """Sub-prototype of each anchor's own class: argmax of the Sinkhorn assignment.

        The assignment is balanced among the anchors of one class in this process.

        Args:
            anchors: (N, D) unit embeddings; labels: (N,) long in [0, C).
        Returns:
            (N,) long in [0, K), or -1 where the class is not initialised.
        """
        assignment = torch.full_like(labels, -1)
        anchors = anchors.detach().float()
        initialized = self.initialized.tolist()  # one host copy instead of one per class
        for cls in labels.unique().tolist():
            if not initialized[cls]:
                continue
            members = labels == cls
            scores = anchors[members] @ self.prototypes[cls].t()
            q = sinkhorn_knopp(scores, self.sinkhorn_iters, self.sinkhorn_epsilon)
            assignment[members] = q.argmax(dim=1)
        return assignment

    def logits(self, anchors: Tensor) -> Tensor:
        """(N, D) anchors -> (N, C*K) cosine similarities, column c*K + k = prototype (c, k).

        Columns of classes not initialised yet are -inf: a placeholder is no negative.
        """
        sims = anchors @ self.prototypes.flatten(0, 1).to(anchors.dtype).t()
        column_ok = self.initialized.repeat_interleave(self.num_prototypes)
        return sims.masked_fill(~column_ok, float('-inf'))

    def class_scores(self, emb: Tensor, size: Optional[tuple] = None) -> Tensor:
        """(B, D, h, w) unit embeddings -> (B, C, h, w) cosine similarity to each class's
        nearest sub-prototype, bilinearly resized to `size` if given; -inf (after resizing) for
        classes not initialised yet."""
        sims = torch.einsum('bdhw,ckd->bckhw', emb, self.prototypes.to(emb.dtype))
        scores = sims.max(dim=2).values
        if size is not None:
            scores = F.interpolate(scores, size=size, mode='bilinear', align_corners=False)
        return scores.masked_fill(~self.initialized[None, :, None, None], float('-inf'))

    def inter_class_similarity(self) -> Tensor:
        """Mean cosine similarity between the normalised class means of the sub-prototypes,
        over pairs of different initialised classes (0 until two classes are initialised):
        how well the memory separates classes (lower = more separated). No host sync."""
        means = F.normalize(self.prototypes.mean(dim=1), dim=-1)
        init = self.initialized.float()
        off_diagonal = 1 - torch.eye(self.num_classes, device=init.device)
        pair = init[:, None] * init[None, :] * off_diagonal
        return ((means @ means.t()) * pair).sum() / pair.sum().clamp_min(1)

    def assigned(self, labels: Tensor, assignment: Tensor) -> Tensor:
        """(N, D) prototype (labels[i], assignment[i]) of each anchor (assignment >= 0)."""
        return self.prototypes[labels, assignment]

    @torch.no_grad()
    def update(self, anchors: Tensor, labels: Tensor, assignment: Tensor,
               generator: Optional[torch.Generator] = None) -> None:
        """Momentum step of the assigned sub-prototypes; first initialisation of new classes.

        Anchors with assignment >= 0 move their sub-prototype (c, k) toward the normalised mean
        of all anchors assigned to it (summed over processes); (c, k) with no anchor stays. A
        class not initialised yet whose anchors (over all processes) number >= K gets its K
        prototypes by k-means++ seeding on those anchors.

        Args:
            anchors: (N, D) detached unit embeddings; labels: (N,) long; assignment: (N,) from
                `assign` on the same anchors.
            generator: for the k-means++ draws (on the anchors' device).
        """
        c, k, d = self.prototypes.shape
        anchors = anchors.detach().float()
        is_assigned = assignment >= 0
        slot = labels[is_assigned] * k + assignment[is_assigned]
        sums = anchors.new_zeros(c * k, d).index_add_(0, slot, anchors[is_assigned])
        counts = torch.bincount(slot, minlength=c * k).float()
        is_candidate = ~self.initialized[labels]
        candidates = torch.bincount(labels[is_candidate], minlength=c).float()
        packed = torch.cat([sums.flatten(), counts, candidates])
        if _distributed():
            dist.all_reduce(packed)
        sums = packed[:c * k * d].view(c, k, d)
        counts = packed[c * k * d:c * k * (d + 1)].view(c, k)
        candidates = packed[c * k * (d + 1):]

        target = F.normalize(sums, dim=-1)
        moved = self.momentum * self.prototypes + (1 - self.momentum) * target
        moves = (counts > 0).unsqueeze(-1)
        self.prototypes.copy_(torch.where(moves, F.normalize(moved, dim=-1), self.prototypes))

        new_classes = ((candidates >= k) & ~self.initialized).nonzero().flatten().tolist()
        if new_classes:
            self._initialize(anchors[is_candidate], labels[is_candidate], new_classes, generator)

    def _initialize(self, anchors: Tensor, labels: Tensor, classes: list,
                    generator: Optional[torch.Generator]) -> None:
        """k-means++-seed the prototypes of `classes` from the anchors of all processes."""
        if _distributed():
            anchors, labels = _all_gather_rows(anchors, labels)
        for cls in classes:
            members = anchors[labels == cls]
            seeds = kmeanspp_init(members, self.num_prototypes, generator)
            self.prototypes[cls] = F.normalize(members[seeds], dim=-1)
            self.initialized[cls] = True
        if _distributed():
            dist.broadcast(self.prototypes, src=0)


def _all_gather_rows(rows: Tensor, labels: Tensor) -> tuple:
    """Concatenate (n_r, D) rows and (n_r,) labels of every rank, in rank order."""
    world = dist.get_world_size()
    size = torch.tensor([rows.shape[0]], device=rows.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes = [int(s) for s in sizes]
    padded = rows.new_zeros(max(sizes), rows.shape[1] + 1)
    padded[:rows.shape[0], :-1] = rows
    padded[:rows.shape[0], -1] = labels.float()
    gathered = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded)
    joined = torch.cat([g[:n] for g, n in zip(gathered, sizes)])
    return joined[:, :-1], joined[:, -1].long()
