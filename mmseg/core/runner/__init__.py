"""Training runtime: exactly resumable runner, safe checkpoints, non-finite step handling,
the grouped AdamW step, layer-wise lr decay for ViT backbones."""
from .checkpoint_files import find_latest_checkpoint
from .checkpoint_hook import SafeCheckpointHook
from .data import build_resumable_dataloader
from .distributed import broadcast_module_state
from .grouped_adamw import GroupedAdamW
from .iter_based_runner import SafeIterBasedRunner
from .layer_decay_optimizer_constructor import LayerDecayOptimizerConstructor
from .nonfinite import NonFiniteSkipOptimizerHook

__all__ = ['SafeIterBasedRunner', 'SafeCheckpointHook', 'NonFiniteSkipOptimizerHook',
           'GroupedAdamW', 'LayerDecayOptimizerConstructor', 'build_resumable_dataloader',
           'broadcast_module_state', 'find_latest_checkpoint']
