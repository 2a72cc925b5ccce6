"""PCPR's prototype losses and their weight schedule (docs/method/pcpr.md, "Losses")."""
import torch.nn.functional as F
from torch import Tensor


def prototype_contrast_loss(logits: Tensor, target_index: Tensor, temperature: float) -> Tensor:
    """L_cont: pixel-to-prototype contrast, `mean_i CE(logits_i / temperature, target_i)`.

    Args:
        logits: (N, C*K) cosine similarities of each anchor to every sub-prototype (-inf for
            columns that must not act as negatives).
        target_index: (N,) long column of the anchor's assigned sub-prototype, `c * K + k`.
        temperature: tau.
    Returns:
        Scalar; 0 (still attached to `logits`) when N = 0, where a mean is undefined.
    """
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits / temperature, target_index)


def prototype_compactness_loss(anchors: Tensor, assigned_protos: Tensor) -> Tensor:
    """L_cons: `mean_i (1 - <e_i, p_i>)^2`, pulling each anchor onto its sub-prototype.

    Args:
        anchors: (N, D) unit embeddings e_i (with grad).
        assigned_protos: (N, D) unit prototypes p_i (no grad).
    Returns:
        Scalar; 0 (still attached to `anchors`) when N = 0.
    """
    if anchors.shape[0] == 0:
        return anchors.sum() * 0.0
    cosine = (anchors * assigned_protos.to(anchors.dtype)).sum(dim=1)
    return (1.0 - cosine).pow(2).mean()


def proto_loss_weight(iteration: int, start_iter: int, rampup_iters: int,
                      base_weight: float) -> float:
    """Weight of a prototype loss at 0-based `iteration` (MIC's `local_iter`).

    0 before `start_iter`; then `base_weight * min(1, (iteration - start_iter + 1) / rampup_iters)`,
    so the first active iteration already has weight base/rampup and the full weight is reached
    at `start_iter + rampup_iters - 1`; rampup_iters 0 or 1 = the full weight from `start_iter`.
    """
    if iteration < start_iter:
        return 0.0
    if rampup_iters <= 1:
        return base_weight
    return base_weight * min(1.0, (iteration - start_iter + 1) / rampup_iters)
