"""Mean-teacher weights: MIC's EMA of the student's parameters (`DACS._update_ema`).

Only `parameters()` are averaged; buffers (BatchNorm running statistics) are left untouched, as in
MIC, where the teacher's BN layers keep their own batch-statistic updates.
"""
import torch
from torch import nn


def ema_alpha(iteration: int, alpha: float) -> float:
    """Warm-started EMA rate: alpha_t = min(1 - 1 / (iteration + 1), alpha)."""
    return min(1 - 1 / (iteration + 1), alpha)


@torch.no_grad()
def init_ema_weights(ema_model: nn.Module, model: nn.Module) -> None:
    """Detach the teacher's parameters (no grad from now on) and copy the student's by index."""
    ema_params = list(ema_model.parameters())
    params = list(model.parameters())
    assert len(ema_params) == len(params), 'teacher and student must have the same parameters'
    for ema_param, param in zip(ema_params, params):
        ema_param.detach_()
        ema_param.copy_(param)


@torch.no_grad()
def update_ema_weights(ema_model: nn.Module, model: nn.Module, iteration: int,
                       alpha: float) -> None:
    """theta_ema <- a_t * theta_ema + (1 - a_t) * theta_student, a_t = `ema_alpha`, params only.

    The two products are rounded separately and then added, exactly as the formula is written.
    """
    alpha_t = ema_alpha(iteration, alpha)
    ema_params = [p.data for p in ema_model.parameters()]
    params = [p.data for p in model.parameters()]
    assert len(ema_params) == len(params), 'teacher and student must have the same parameters'
    torch._foreach_mul_(ema_params, alpha_t)
    torch._foreach_add_(ema_params, torch._foreach_mul(params, 1 - alpha_t))


def step_ema(ema_model: nn.Module, model: nn.Module, iteration: int, alpha: float) -> None:
    """The teacher step at the start of `iteration`: copy at 0, EMA update afterwards (MIC)."""
    if iteration == 0:
        init_ema_weights(ema_model, model)
    else:
        update_ema_weights(ema_model, model, iteration, alpha)
