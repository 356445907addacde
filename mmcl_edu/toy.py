"""The sphere toy of chapter 1: paired embeddings on the circle :math:`S^1` or the sphere :math:`S^2`.

Contrastive learning is easiest to *see* without encoders and data: give every pair
``i ∈ [B]`` two free vectors ``w_1^{(i)}, w_2^{(i)} ∈ R^d`` (``d = 2`` or ``3``), map them to the
unit sphere, ``ẑ_k^{(i)} = w_k^{(i)} / ‖w_k^{(i)}‖``, and minimise a contrastive loss over the
vectors themselves. Starting from a clump near one pole, the pairs move together (alignment)
while the points spread over the sphere (uniformity).

All losses come from :mod:`mmcl_edu.losses`; this module draws the points, trains and measures them, and
:mod:`mmcl_edu.toy_figures` draws the figures.

With unit vectors and cosine similarity, ``sim(u, v) = u·v = 1 − ‖u − v‖²/2``, so for every
batch the one-directional InfoNCE satisfies the exact identity

.. math::

    \\mathcal L_{1\\to 2} - \\log B = \\frac{1}{2\\tau}\\,\\frac1B\\sum_i \\lVert \\hat z_1^{(i)} - \\hat z_2^{(i)}\\rVert^2
    + \\frac1B \\sum_i \\log \\frac1B \\sum_j \\exp\\Big(-\\frac{\\lVert \\hat z_1^{(i)} - \\hat z_2^{(j)}\\rVert^2}{2\\tau}\\Big),

an alignment term plus a uniformity-like term with kernel width ``t = 1/(2τ)``
(Wang & Isola 2020); :func:`infonce_limit` evaluates its large-``B`` limit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ._validation import check_choice, check_float, check_int
from .losses import alignment, symmetric_info_nce, uniformity
from .presets import Preset, preset, resolve_size

OBJECTIVES = ("infonce", "align_uniform")


# ---------------------------------------------------------------- configuration
@dataclass(frozen=True)
class ToyConfig:
    """Sizes of the chapter-1 toy, read from the ``"sphere_toy"`` preset (:func:`toy_config`). ``quick``
    runs in seconds on a CPU; ``full`` uses more points and steps (nothing here needs a GPU). The
    fields without a size-dependent value (``dim``, ``lr``, ...) are the toy's fixed settings."""

    size: str
    n: int                            # pairs (= batch size B: the whole set is one batch)
    steps: int
    sweep_taus: tuple[float, ...]
    sweep_n: int
    sweep_steps: int
    large_batch_sizes: tuple[int, ...]
    large_batch_ref: int
    mi_batch_size: int                # the mutual-information bound of the Gaussian pair (mmcl_edu.mi_bound)
    mi_batches: int
    dim: int = 3                      # ambient dimension: 3 → S^2, 2 → S^1
    lr: float = 0.05
    temperature: float = 0.2
    init_spread: float = 0.25         # the initial clump: normalize(pole + init_spread · N(0, I))
    loss_taus: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)   # loss-vs-temperature figure
    loss_n: int = 128                 # ... its batch of fixed configurations
    seed: int = 0


def toy_config(size=None) -> ToyConfig:
    """The chapter-1 configuration: ``size`` is a :class:`~mmcl_edu.presets.Preset` of
    ``preset("sphere_toy", ...)``, or a size (``None``: ``$MMCL_EDU_SIZE``, default quick)."""
    if isinstance(size, Preset):
        if size.name != "sphere_toy":
            raise ValueError(f"toy_config needs the 'sphere_toy' preset; got {size.name!r}")
        cfg = size
    else:
        cfg = preset("sphere_toy", resolve_size(size))
    return ToyConfig(size=cfg.size, **cfg.chapter)


# ---------------------------------------------------------------- points on the sphere
def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def uniform_sphere(n: int, dim: int = 3, seed: int = 0) -> torch.Tensor:
    """``n`` points drawn uniformly on the unit sphere ``S^{dim-1}`` (normalised Gaussians)."""
    check_int("n", n, 1)
    check_int("dim", dim, 2)
    return F.normalize(torch.randn(n, dim, generator=_generator(seed)), dim=1)


def clumped_pairs(n: int, dim: int = 3, spread: float = 0.25, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent clumps of ``n`` unit vectors around the pole ``e_dim``:
    ``ẑ = normalize(e_dim + spread · ε)``, ``ε ~ N(0, I)``. The pairs ``(ẑ_1^{(i)}, ẑ_2^{(i)})`` are
    *not* aligned (drawn independently) and the points are far from uniform: a bad start."""
    check_int("n", n, 2)
    check_int("dim", dim, 2)
    check_float("spread", spread, 0.0, None, low_open=True)
    g = _generator(seed)
    pole = torch.zeros(dim)
    pole[-1] = 1.0
    z1 = F.normalize(pole + spread * torch.randn(n, dim, generator=g), dim=1)
    z2 = F.normalize(pole + spread * torch.randn(n, dim, generator=g), dim=1)
    return z1, z2


def noisy_pairs(n: int, dim: int = 3, noise: float = 0.3, anisotropy: float = 0.5, seed: int = 0):
    """Unit-vector pairs that are neither aligned nor uniform: ``ẑ_1 = normalize(D ε)`` with
    ``D = diag(1, …, 1, anisotropy)``, and ``ẑ_2 = normalize(ẑ_1 + noise · ε')``."""
    g = _generator(seed)
    scale = torch.ones(dim)
    scale[-1] = anisotropy
    z1 = F.normalize(torch.randn(n, dim, generator=g) * scale, dim=1)
    z2 = F.normalize(z1 + noise * torch.randn(n, dim, generator=g), dim=1)
    return z1, z2


# ---------------------------------------------------------------- metrics
def sphere_metrics(z1, z2, t: float = 2.0) -> dict:
    """Alignment ``E‖ẑ_1 − ẑ_2‖²`` and uniformity ``log E exp(−t‖ẑ − ẑ'‖²)`` (mean over the two
    modalities) of Wang & Isola (2020), computed with :mod:`mmcl_edu.losses`."""
    z1, z2 = torch.as_tensor(z1, dtype=torch.float32), torch.as_tensor(z2, dtype=torch.float32)
    return {"alignment": float(alignment(z1, z2)),
            "uniformity": float(0.5 * (uniformity(z1, t) + uniformity(z2, t)))}


def uniform_sphere_uniformity(dim: int = 3, t: float = 2.0) -> float:
    """``L_uniform`` of the uniform distribution on ``S^{dim-1}`` (the population value).

    With ``u = cos∠(ẑ, ẑ')`` and ``‖ẑ − ẑ'‖² = 2 − 2u``:

    * ``S^1``: ``log E exp(−t(2 − 2cos θ)) = log(e^{−2t} I_0(2t))`` (``I_0``: modified Bessel function);
    * ``S^2``: ``u`` is uniform on ``[−1, 1]``, so the value is ``log((1 − e^{−4t}) / (4t))``.
    """
    check_float("t", t, 0.0, None, low_open=True)
    if dim == 2:
        return float(-2 * t + math.log(np.i0(2 * t)))
    if dim == 3:
        return float(math.log((1 - math.exp(-4 * t)) / (4 * t)))
    raise ValueError(f"dim must be 2 or 3; got {dim!r}")


def infonce_limit(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> dict:
    """The large-batch limit of ``L_{1→2} − log B`` (Wang & Isola 2020), estimated on a sample of
    unit-vector pairs (use a large, *independent* sample):

    .. math::

        \\underbrace{\\frac{1}{2\\tau}\\,\\mathbb E\\lVert \\hat z_1 - \\hat z_2\\rVert^2}_{\\text{alignment term}}
        + \\underbrace{\\mathbb E_{\\hat z_1}\\Big[\\log \\mathbb E_{\\hat z_2'}
        \\exp\\Big(-\\frac{\\lVert \\hat z_1 - \\hat z_2'\\rVert^2}{2\\tau}\\Big)\\Big]}_{\\text{uniformity term}}

    where ``ẑ_2'`` is independent of ``ẑ_1``. Returns the two terms and their sum (``"limit"``).
    The inner expectation skips the diagonal ``j = i`` (the positive)."""
    check_float("temperature", temperature, 0.0, None, low_open=True)
    z1, z2 = F.normalize(z1.double(), dim=1), F.normalize(z2.double(), dim=1)
    n = len(z1)
    align_term = alignment(z1, z2) / (2 * temperature)
    terms = []
    for start in range(0, n, 1024):  # chunks keep memory at 1024 × n
        a = z1[start:start + 1024]
        sq = (2 - 2 * a @ z2.T).clamp_min(0)
        logits = -sq / (2 * temperature)
        idx = torch.arange(start, start + len(a))
        logits[torch.arange(len(a)), idx] = float("-inf")
        terms.append(torch.logsumexp(logits, dim=1) - math.log(n - 1))
    unif_term = torch.cat(terms).mean()
    return {"alignment_term": float(align_term), "uniformity_term": float(unif_term),
            "limit": float(align_term + unif_term)}


def large_batch_check(batch_sizes=(16, 64, 256, 1024, 4096), temperature: float = 0.5, n_ref: int = 8192,
                      repeats: int = 8, seed: int = 0) -> pd.DataFrame:
    """The theorem of chapter 1, numerically: on :func:`noisy_pairs`, the one-directional InfoNCE
    (cosine similarity, from :func:`mmcl_edu.losses.info_nce`) minus ``log B``, averaged over
    ``repeats`` fresh batches, against the limit of :func:`infonce_limit` estimated on an independent
    sample of ``n_ref`` pairs. Returns one row per batch size."""
    from .losses import info_nce
    ref = infonce_limit(*noisy_pairs(n_ref, seed=seed + 10_000), temperature)
    rows = []
    for b in batch_sizes:
        vals = [float(info_nce(*noisy_pairs(b, seed=seed + 100 * r + b), temperature, "cosine")) - math.log(b)
                for r in range(repeats)]
        rows.append({"B": b, "loss - log B": float(np.mean(vals)), "limit": ref["limit"],
                     "gap": float(np.mean(vals)) - ref["limit"]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- training
@dataclass
class ToyResult:
    """Embeddings before and after training (numpy, unit vectors) and the training history."""

    z1_init: np.ndarray
    z2_init: np.ndarray
    z1: np.ndarray
    z2: np.ndarray
    history: pd.DataFrame
    objective: str
    temperature: float
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)


def toy_loss(z1: torch.Tensor, z2: torch.Tensor, objective: str = "infonce", temperature: float = 0.2,
             lam: float = 1.0) -> torch.Tensor:
    """The objective of the toy, on unit vectors:

    * ``"infonce"``: :func:`mmcl_edu.losses.symmetric_info_nce` with cosine similarity at ``temperature``;
    * ``"align_uniform"``: Wang & Isola's direct objective
      ``L_align + lam · ½ (L_uniform(ẑ_1) + L_uniform(ẑ_2))`` (``α = 2``, ``t = 2``).
    """
    check_choice("objective", objective, OBJECTIVES)
    if objective == "infonce":
        return symmetric_info_nce(z1, z2, temperature, "cosine")
    return alignment(z1, z2) + lam * 0.5 * (uniformity(z1) + uniformity(z2))


def train_sphere_toy(n: int = 256, dim: int = 3, objective: str = "infonce", temperature: float = 0.2,
                     steps: int = 400, lr: float = 0.05, init_spread: float = 0.25, lam: float = 1.0,
                     seed: int = 0, log_every: int = 20) -> ToyResult:
    """Train ``n`` free pairs of unit vectors on ``S^{dim-1}`` from a clumped start
    (:func:`clumped_pairs`) with Adam on the whole set (one batch, ``B = n``).

    The parameters are the unnormalised vectors ``w``; the loss sees ``ẑ = w/‖w‖``. Deterministic for
    a seed. Returns a :class:`ToyResult` whose history has columns
    ``step, loss, alignment, uniformity``."""
    check_int("steps", steps, 0)
    check_float("lr", lr, 0.0, None, low_open=True)
    check_float("temperature", temperature, 0.0, None, low_open=True)
    check_choice("objective", objective, OBJECTIVES)
    z1_0, z2_0 = clumped_pairs(n, dim, init_spread, seed)
    w1, w2 = z1_0.clone().requires_grad_(True), z2_0.clone().requires_grad_(True)
    opt = torch.optim.Adam([w1, w2], lr=lr)
    rows = []
    for step in range(steps + 1):
        z1, z2 = F.normalize(w1, dim=1), F.normalize(w2, dim=1)
        loss = toy_loss(z1, z2, objective, temperature, lam)
        if step % log_every == 0 or step == steps:
            rows.append({"step": step, "loss": float(loss.detach()), **sphere_metrics(z1.detach(), z2.detach())})
        if step == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    z1, z2 = F.normalize(w1.detach(), dim=1), F.normalize(w2.detach(), dim=1)
    return ToyResult(z1_init=z1_0.numpy(), z2_init=z2_0.numpy(), z1=z1.numpy(), z2=z2.numpy(),
                     history=pd.DataFrame(rows), objective=objective, temperature=float(temperature),
                     before=sphere_metrics(z1_0, z2_0), after=sphere_metrics(z1, z2))


def temperature_sweep(taus=(0.05, 0.2, 1.0, 5.0), n: int = 128, dim: int = 2, steps: int = 400, lr: float = 0.05,
                      seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Train the toy with symmetric InfoNCE at each temperature. Returns a table
    (``tau, alignment, uniformity, loss``) and the :class:`ToyResult` of each ``tau``."""
    results, rows = {}, []
    for tau in taus:
        r = train_sphere_toy(n=n, dim=dim, temperature=tau, steps=steps, lr=lr, seed=seed)
        results[tau] = r
        rows.append({"tau": tau, **r.after, "loss": float(r.history["loss"].iloc[-1])})
    return pd.DataFrame(rows), results


# ---------------------------------------------------------------- InfoNCE on fixed configurations
def example_configurations(n: int = 128, dim: int = 3, seed: int = 0) -> dict:
    """Three batches of unit-vector pairs to evaluate a loss on:

    * ``"collapsed"``: every vector the same point (nothing to tell the candidates apart);
    * ``"random"``: independent uniform ``ẑ_1`` and ``ẑ_2`` (no alignment, perfect spread);
    * ``"aligned and uniform"``: ``ẑ_2 = ẑ_1``, uniform on the sphere (the ideal).
    """
    u = uniform_sphere(n, dim, seed)
    pole = torch.zeros(n, dim)
    pole[:, -1] = 1.0
    return {"collapsed": (pole, pole.clone()),
            "random": (u, uniform_sphere(n, dim, seed + 1)),
            "aligned and uniform": (u, u.clone())}


def loss_vs_temperature(taus, configurations: dict | None = None) -> pd.DataFrame:
    """Symmetric InfoNCE (cosine) of each configuration at each temperature: rows ``tau``, one
    column per configuration."""
    configurations = configurations or example_configurations()
    return pd.DataFrame({name: [float(symmetric_info_nce(z1, z2, tau, "cosine")) for tau in taus]
                         for name, (z1, z2) in configurations.items()}, index=pd.Index(list(taus), name="tau"))


def candidate_angles(n_negatives: int = 7, seed: int = 3) -> tuple[float, np.ndarray]:
    """Angles on ``S^1`` of the positive and of ``n_negatives`` negatives, for a query at angle 0:
    the positive at 0.35 rad, one *hard* negative close to it, the rest uniform."""
    rng = np.random.default_rng(seed)
    neg = np.concatenate([[-0.6], rng.uniform(0.9, 2 * np.pi - 0.9, n_negatives - 1)])
    return 0.35, neg


def candidate_softmax(tau: float, n_negatives: int = 7, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of the query to its candidates (positive first) and the softmax
    ``p_j = exp(s_j/τ) / Σ_k exp(s_k/τ)``: the probability InfoNCE assigns to each candidate being
    the positive. ``∂L/∂s_j = p_j/τ`` for a negative, ``−(1 − p_pos)/τ`` for the positive."""
    check_float("tau", tau, 0.0, None, low_open=True)
    pos, neg = candidate_angles(n_negatives, seed)
    sims = np.cos(np.concatenate([[pos], neg]))
    logits = sims / tau
    p = np.exp(logits - logits.max())
    return sims, p / p.sum()
