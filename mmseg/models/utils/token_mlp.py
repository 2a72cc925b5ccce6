"""Per-pixel linear embedding used by the SegFormer and DAFormer decoders."""
import torch
import torch.nn as nn


class MLP(nn.Module):
    """Linear layer applied to every pixel: (B, C_in, H, W) -> (B, H * W, C_out) tokens.

    The parameter is named `proj` as in SegFormer / DAFormer checkpoints.
    """

    def __init__(self, input_dim: int = 2048, embed_dim: int = 768):
        super().__init__()
        self.proj = nn.Linear(input_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.flatten(2).transpose(1, 2))
