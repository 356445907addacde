"""Invertible mixing functions ``f_i : z_i -> x_i`` (chapter 2).

Both papers generate observations with the same kind of frozen, randomly drawn network
(Daunhawer et al. 2023, following Zimmermann et al. 2021):

.. math::

    f(z) = W_L\\,\\sigma(W_{L-1}\\,\\sigma(\\cdots\\sigma(W_1 z))),\\qquad
    \\sigma(u) = \\max(u, 0.2\\,u)

with square, bias-free layers ``W_l``. Each ``W_l`` has entries uniform on ``[-1, 1]``
and unit-norm columns, and is drawn again until its condition number is small, so the map
is a well-conditioned diffeomorphism whose inverse is computed layer by layer.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from .env import shift_seed
from ._validation import check_float, check_int

NEGATIVE_SLOPE = 0.2


def _well_conditioned_matrix(dim: int, rng: np.random.Generator, n_candidates: int,
                             quantile: float) -> np.ndarray:
    """Draw one square matrix with unit-norm columns whose condition number lies below
    the ``quantile`` of ``n_candidates`` random draws.

    Rejection sampling against a quantile of the same distribution is the same as picking
    uniformly among the candidates below that quantile, which is what we do in one batch.
    """
    cands = rng.uniform(-1.0, 1.0, size=(n_candidates, dim, dim))
    cands /= np.linalg.norm(cands, axis=1, keepdims=True)
    conds = np.linalg.cond(cands)
    threshold = np.quantile(conds, quantile)
    good = np.flatnonzero(conds <= threshold)
    return cands[rng.choice(good)]


@functools.lru_cache(maxsize=32)
def _draw_weights(dim: int, n_layers: int, seed: int, n_candidates: int, quantile: float) -> np.ndarray:
    """The layers of one mixing function. Cached: a chapter builds several generative models from
    the same seeds, and the rejection step costs about a second per function."""
    rng = np.random.default_rng(seed)
    # Large candidate batches are only worth it for small matrices.
    n_candidates = min(n_candidates, max(1000, 4_000_000 // (dim * dim)))
    weights = np.stack([_well_conditioned_matrix(dim, rng, n_candidates, quantile) for _ in range(n_layers)])
    weights.setflags(write=False)
    return weights


class InvertibleMLP(nn.Module):
    """A frozen invertible MLP ``f: R^d -> R^d``.

    Parameters
    ----------
    dim : int
        Input and output dimension (every layer is square).
    n_layers : int, default 3
        Number of linear layers; LeakyReLU(0.2) sits between them, none after the last.
    seed : int, default 0
        Seed of the draw; the same seed gives the same function.
    n_candidates, quantile : int, float
        Each layer is picked among ``n_candidates`` random draws with condition number
        below their ``quantile`` (the official code rejects against the 0.1 % quantile of
        25,000 draws).
    """

    def __init__(self, dim: int, n_layers: int = 3, seed: int = 0,
                 n_candidates: int = 25_000, quantile: float = 0.001):
        super().__init__()
        self.dim = check_int("dim", dim, 1)
        self.n_layers = check_int("n_layers", n_layers, 1)
        check_int("seed", seed, 0)
        check_int("n_candidates", n_candidates, 1)
        check_float("quantile", quantile, 0.0, 1.0, low_open=True)
        w = torch.tensor(_draw_weights(self.dim, self.n_layers, shift_seed(seed), n_candidates, quantile), dtype=torch.float32)
        self.register_buffer("weights", w)
        self.register_buffer("inverse_weights", torch.linalg.inv(w.double()).float())
        self.requires_grad_(False)

    @torch.no_grad()
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z
        for l in range(self.n_layers):
            x = x @ self.weights[l].T
            if l < self.n_layers - 1:
                x = torch.nn.functional.leaky_relu(x, NEGATIVE_SLOPE)
        return x

    @torch.no_grad()
    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Recover ``z`` from ``x = f(z)``."""
        z = x
        for l in reversed(range(self.n_layers)):
            if l < self.n_layers - 1:
                z = torch.where(z >= 0, z, z / NEGATIVE_SLOPE)
            z = z @ self.inverse_weights[l].T
        return z

    def condition_numbers(self) -> list[float]:
        return [float(torch.linalg.cond(w)) for w in self.weights]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_layers={self.n_layers}"
