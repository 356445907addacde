"""Encoders ``g_i : x_i -> ẑ_i`` (chapters 1–4, 6–7).

The paper's encoder is an MLP 15 → [150, 750, 750, 750, 750, 150] → 5 with LeakyReLU(0.01)
and no normalisation; widths, depth, activation and output size are all arguments here.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._validation import check_choice, check_int

ACTIVATIONS = {
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}
PAPER_HIDDEN = (150, 750, 750, 750, 750, 150)


class MLPEncoder(nn.Sequential):
    """``in_dim → hidden[0] → … → hidden[-1] → out_dim``, an activation after every hidden layer.

    With ``normalize=True`` the output is projected onto the unit sphere (for cosine similarity).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = PAPER_HIDDEN,
                 activation: str = "leaky_relu", normalize: bool = False):
        check_int("in_dim", in_dim, 1)
        check_int("out_dim", out_dim, 1)
        check_choice("activation", activation, ACTIVATIONS)
        hidden = tuple(hidden)
        for h in hidden:
            check_int("hidden (each width)", h, 1)
        layers, d = [], in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), ACTIVATIONS[activation]()]
            d = h
        layers.append(nn.Linear(d, out_dim))
        super().__init__(*layers)
        self.in_dim, self.out_dim, self.normalize = in_dim, out_dim, normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = super().forward(x)
        return nn.functional.normalize(z, dim=-1) if self.normalize else z


def make_encoders(in_dims: tuple[int, int], out_dim: int, hidden: Sequence[int] = PAPER_HIDDEN,
                  activation: str = "leaky_relu", shared: bool = False, normalize: bool = False) -> nn.ModuleList:
    """The encoder pair ``(g_1, g_2)``; ``shared=True`` uses one network for both modalities
    (only possible when both inputs have the same size)."""
    g1 = MLPEncoder(in_dims[0], out_dim, hidden, activation, normalize)
    if shared:
        if in_dims[0] != in_dims[1]:
            raise ValueError(f"shared encoders need equal input sizes; got in_dims={tuple(in_dims)}")
        return nn.ModuleList([g1, g1])
    return nn.ModuleList([g1, MLPEncoder(in_dims[1], out_dim, hidden, activation, normalize)])
