"""Optimizer state of a checkpoint mapped onto this run's optimizer."""
import torch
from torch import nn

from mmseg.core.runner.optimizer_state import remap_optimizer_state


def test_resumed_optimizer_keeps_the_config_kernel_choice_and_the_checkpoint_hyperparameters():
    """A CPU checkpoint (per-tensor step) resumed where the config asks for the multi-tensor
    step: torch's load_state_dict would copy `foreach` from the file over the config's."""
    model = nn.Linear(2, 2)
    named = list(model.named_parameters())
    saved_opt = torch.optim.AdamW(model.parameters(), lr=0.5, foreach=False)
    model(torch.ones(1, 2)).sum().backward()
    saved_opt.step()
    saved = saved_opt.state_dict()
    resumed = torch.optim.AdamW(model.parameters(), lr=0.1, foreach=True)
    state = remap_optimizer_state(saved, [n for n, _ in named], resumed.param_groups, named,
                                  'ckpt.pth')
    resumed.load_state_dict(state)
    group = resumed.param_groups[0]
    assert group['foreach'] is True and group['lr'] == 0.5
    assert torch.equal(resumed.state[model.weight]['exp_avg'],
                       saved_opt.state[model.weight]['exp_avg'])
