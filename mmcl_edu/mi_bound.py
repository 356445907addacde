"""The InfoNCE bound on mutual information, measured where the mutual information is known (chapter 1).

For any critic ``f`` (a score of a candidate pair; in InfoNCE ``f(x_1, x_2) = sim(g_1(x_1), g_2(x_2)) / τ``)
and a batch of ``B`` pairs, one positive and ``B − 1`` independent negatives per row,

.. math::

    I(x_1; x_2) \\ge \\log B - \\mathbb E\\,\\mathcal L_{1\\to 2}(f)

(van den Oord et al. 2018; Poole et al. 2019). The bound holds for *every* critic; the log density ratio
``f* = log p(x_2 | x_1) / p(x_2)`` makes it tightest, and never above ``log B``.

:func:`gaussian_mi_bounds` estimates the right-hand side for a few critics on a pair of correlated standard
normals, whose mutual information ``−½ log(1 − ρ²)`` is known in closed form.
"""
from __future__ import annotations

import math

import pandas as pd
import torch
import torch.nn.functional as F

from ._validation import check_float, check_int


def gaussian_mutual_information(rho: float) -> float:
    """``I(x_1; x_2) = −½ log(1 − ρ²)`` nats for standard normals with correlation ``rho``."""
    check_float("rho", rho, -1.0, 1.0, low_open=True, high_open=True)
    return -0.5 * math.log(1.0 - rho**2)


def gaussian_critics(rho: float) -> dict:
    """Critics ``f(x_1, x_2)`` (broadcasting) for the Gaussian pair: the optimal one (the log density
    ratio, up to a function of ``x_1`` that cancels in the softmax), two squared-distance critics
    ``−(x_1 − x_2)²/τ`` and a constant critic."""
    return {
        "optimal: log p(x2|x1)/p(x2)": lambda a, b: -(b - rho * a) ** 2 / (2 * (1 - rho**2)) + b**2 / 2,
        "-(x1 - x2)^2, tau = 1": lambda a, b: -(a - b) ** 2,
        "-(x1 - x2)^2, tau = 0.3": lambda a, b: -(a - b) ** 2 / 0.3,
        "constant": lambda a, b: torch.zeros(torch.broadcast_shapes(a.shape, b.shape), dtype=a.dtype),
    }


def gaussian_mi_bounds(rho: float = 0.8, batch_size: int = 128, n_batches: int = 200, seed: int = 0) -> pd.DataFrame:
    """``log B − L_{1→2}`` averaged over ``n_batches`` batches of correlated standard normals, for each
    critic of :func:`gaussian_critics`, with its standard error and the true mutual information.

    Columns: ``critic, bound, se, mutual_information, log_B``."""
    mi = gaussian_mutual_information(rho)
    check_int("batch_size", batch_size, 2)
    check_int("n_batches", n_batches, 2)
    g = torch.Generator().manual_seed(int(seed))
    targets = torch.arange(batch_size)
    values = {name: [] for name in gaussian_critics(rho)}
    for _ in range(n_batches):
        x1 = torch.randn(batch_size, generator=g, dtype=torch.float64)
        x2 = rho * x1 + math.sqrt(1 - rho**2) * torch.randn(batch_size, generator=g, dtype=torch.float64)
        for name, critic in gaussian_critics(rho).items():
            scores = critic(x1[:, None], x2[None, :])  # scores[i, j] = f(x1_i, x2_j)
            values[name].append(math.log(batch_size) - float(F.cross_entropy(scores, targets)))
    rows = []
    for name, v in values.items():
        v = torch.tensor(v)
        rows.append(dict(critic=name, bound=float(v.mean()), se=float(v.std() / math.sqrt(len(v))),
                         mutual_information=mi, log_B=math.log(batch_size)))
    return pd.DataFrame(rows)
