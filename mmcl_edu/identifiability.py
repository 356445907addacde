"""Numerical companions to the identifiability proof (chapter 3; Daunhawer et al. 2023).

The theorem of chapter 3 says that smooth encoders ``g_1, g_2`` into ``(0, 1)^{n_c}`` that
minimise

.. math::

    \\mathcal L_{\\mathrm{AlignMaxEnt}}(g_1, g_2)
    = \\mathbb E\\,\\lVert g_1(x_1) - g_2(x_2) \\rVert^2 - H(g_1(x_1)) - H(g_2(x_2))

recover the content block: ``g_1(x_1) = h(c)`` and ``g_2(x_2) = h(c)`` with ``h`` invertible.
The proof has three steps, and each function here makes one of them visible on samples:

1. **A minimiser exists and reaches the bound** (alignment 0, entropy 0):
   :func:`content_oracle` builds it, ``g_i = Φ ∘ [f_i^{-1}]_c`` for independent Gaussian content.
2. **Alignment forces invariance** to everything that changes between the modalities
   (style, modality-specific latents): :func:`oracle_encoder` and
   :func:`alignment_under_style_change`.
3. **Maximal entropy forces an invertible map of content**: :func:`knn_entropy` and
   :func:`content_map_entropies`.

:func:`short_training_r2` then trains real encoders briefly and tracks the linear ``R²`` of
each block, the quantity the theorem is about.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ._validation import check_choice, check_float, check_int
from .evaluation import evaluate
from .latents import ContentStyleModel
from .losses import alignment, uniformity

#: What each oracle encoder reads — a name and the blocks of z_i it keeps.
ORACLE_READS = {
    "content": ("c",),
    "content+style": ("c", "s"),
    "style": ("s",),
    "content+specific": ("c", "m"),
}


def _block_slices(model: ContentStyleModel) -> dict[str, slice]:
    """Where ``c``, ``s`` (style: ``s`` in ``z_1``, ``s~`` in ``z_2``) and ``m`` (``m_i``) sit in ``z_i``."""
    nc, ns, nm = model.content_dim, model.style_dim, model.specific_dim
    return {"c": slice(0, nc), "s": slice(nc, nc + ns), "m": slice(nc + ns, nc + ns + nm)}


def oracle_encoder(model: ContentStyleModel, modality: int, reads=("c",)):
    """An encoder that knows the mixing: ``g_i(x_i) = P [f_i^{-1}(x_i)]``, where ``P`` keeps the
    blocks named in ``reads`` (``"c"``, ``"s"`` for the style seen by modality ``i``, ``"m"`` for
    ``m_i``), in that order.

    It is the simplest encoder whose dependence on each latent block we control exactly:
    ``g_i ∘ f_i`` is a coordinate projection of ``z_i``.
    """
    check_choice("modality", modality, (1, 2))
    reads = tuple(reads)
    slices = _block_slices(model)
    for r in reads:
        check_choice("reads (each)", r, tuple(slices))
    f = model.f1 if modality == 1 else model.f2

    def g(x: torch.Tensor) -> torch.Tensor:
        z = f.inverse(x)
        return torch.cat([z[:, slices[r]] for r in reads], dim=1)

    return g


def content_oracle(model: ContentStyleModel, modality: int):
    """The minimiser built in step 1 of the proof, for independent standard-normal content:
    ``g_i(x_i) = Φ([f_i^{-1}(x_i)]_c)``, with ``Φ`` the standard normal CDF applied
    coordinate-wise. Then ``g_1(x_1) = g_2(x_2) = Φ(c)``, uniform on ``(0, 1)^{n_c}``.

    (For dependent content the general construction replaces ``Φ`` by the Darmois map, a chain of
    conditional CDFs; with ``dependence="statistical"`` one can whiten first.)
    """
    base = oracle_encoder(model, modality, ("c",))
    chol = model.chol.get("c")

    def g(x):
        c = base(x)
        if chol is not None:  # whiten correlated content, then Φ: still a smooth bijection of c
            c = torch.linalg.solve_triangular(chol, c.T, upper=False).T
        return _phi(c)

    return g


def expected_style_alignment(p_change: float, style_dim: int) -> float:
    """Closed form of the alignment term of an encoder that copies the style block,
    ``E‖s − s~‖² = E‖b ⊙ ε‖² = Σ_k P(b_k = 1) E[ε_k²] = p_change · n_s`` (unit-variance ``ε``)."""
    return check_float("p_change", p_change, 0.0, 1.0) * check_int("style_dim", style_dim, 0)


@torch.no_grad()
def alignment_under_style_change(model: ContentStyleModel, p_changes=(0.0, 0.25, 0.5, 0.75, 1.0),
                                 encoders=("content", "content+style", "style", "content+specific"),
                                 n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Step 2 of the proof, on samples: the alignment term ``E‖g_1(x_1) − g_2(x_2)‖²`` of oracle
    encoders that read different blocks, for several style-change probabilities.

    With ``h_i = g_i ∘ f_i``, the alignment is ``E‖h_1(c, s, m_1) − h_2(c, s~, m_2)‖²``. An encoder
    that reads only content has ``h_1 = h_2 = [·]_c`` and alignment exactly 0 whatever
    ``p_change``. One that reads style pays ``E‖s − s~‖² = p_change · n_s`` (see
    :func:`expected_style_alignment`), and one that reads ``m_i`` pays ``E‖m_1 − m_2‖² = 2 n_m``
    whatever ``p_change``: the minimum of the alignment term is reached only by encoders
    that ignore whatever can differ between the modalities.

    ``model`` is copied and only its ``p_change`` changes (the mixing is reused).

    Returns a DataFrame with columns ``encoder, p_change, alignment, expected``.
    """
    check_int("n", n, 2)
    rows = []
    for p in p_changes:
        m = model.with_p_change(p)
        batch = m.sample(n, seed=seed)
        for name in encoders:
            check_choice("encoders (each)", name, tuple(ORACLE_READS))
            reads = ORACLE_READS[name]
            g1, g2 = oracle_encoder(m, 1, reads), oracle_encoder(m, 2, reads)
            a = float(alignment(g1(batch.x1), g2(batch.x2)))
            expected = (("s" in reads) * expected_style_alignment(p, m.style_dim)
                        + ("m" in reads) * 2.0 * m.specific_dim)
            rows.append(dict(encoder=name, p_change=float(p), alignment=a, expected=float(expected)))
    return pd.DataFrame(rows)


def knn_entropy(z, k: int = 3) -> float:
    """Kozachenko–Leonenko estimate of the differential entropy ``H(z)`` (in nats) from samples.

    .. math::

        \\hat H = \\psi(N) - \\psi(k) + \\log V_d + \\frac dN \\sum_{i=1}^N \\log \\varepsilon_i,

    with ``ε_i`` the distance from ``z_i`` to its ``k``-th nearest neighbour and
    ``V_d = π^{d/2} / Γ(d/2 + 1)`` the volume of the unit ball in ``R^d``. The uniform distribution
    on ``(0, 1)^d`` has ``H = 0`` (the estimate is slightly below, from the cube's boundary);
    a distribution squeezed onto a lower-dimensional set has ``H = −∞``, which the estimate
    shows as a large negative number that keeps falling as ``N`` grows.
    """
    from scipy.spatial import cKDTree
    from scipy.special import digamma, gammaln

    z = np.asarray(z.detach().cpu() if isinstance(z, torch.Tensor) else z, dtype=np.float64)
    if z.ndim != 2 or len(z) <= k:
        raise ValueError(f"z must have shape (N, d) with N > k = {k}; got {z.shape}")
    n, d = z.shape
    dist, _ = cKDTree(z).query(z, k=k + 1)
    eps = np.maximum(dist[:, k], 1e-300)
    log_vd = (d / 2) * math.log(math.pi) - gammaln(d / 2 + 1)
    return float(digamma(n) - digamma(k) + log_vd + d * np.mean(np.log(eps)))


_phi = torch.special.ndtr  # the standard normal CDF Φ


def content_maps() -> dict:
    """Maps ``h`` from content ``c ~ N(0, I)`` into the cube ``(0, 1)^{n_c}`` used in step 3.

    ``name -> (h, injective, smooth, exact entropy of h(c))``:

    * ``"invertible"``: ``Φ(c)`` — smooth, invertible, uniform: ``H = 0`` (the maximum);
    * ``"fold"``: ``Φ(|c_1|)`` in the first coordinate — two contents share one code; the first
      coordinate is uniform on ``(1/2, 1)``, so ``H = −log 2`` (the fold has a kink at ``c_1 = 0``;
      a smoothed fold loses entropy in the same way);
    * ``"drop"``: the first coordinate set to ``1/2`` — content squeezed onto a face, ``H = −∞``;
    * ``"fold, stretched"``: ``2Φ(|c_1|) − 1`` — non-injective *and* uniform (``H = 0``), but not
      differentiable at ``c_1 = 0``: the smoothness the theorem assumes is what rules it out.
    """
    def inv(c):
        return _phi(c)

    def fold(c):
        u = _phi(c)
        return torch.cat([_phi(c[:, :1].abs()), u[:, 1:]], 1)

    def drop(c):
        u = _phi(c)
        return torch.cat([torch.full_like(u[:, :1], 0.5), u[:, 1:]], 1)

    def fold_stretched(c):
        u = _phi(c)
        return torch.cat([2 * _phi(c[:, :1].abs()) - 1, u[:, 1:]], 1)

    return {"invertible": (inv, True, True, 0.0), "fold": (fold, False, False, -math.log(2)),
            "drop": (drop, False, True, -math.inf), "fold, stretched": (fold_stretched, False, False, 0.0)}


@torch.no_grad()
def content_map_entropies(content_dim: int = 5, n: int = 4000, seed: int = 0, k: int = 3,
                          uniformity_n: int = 2000) -> pd.DataFrame:
    """Step 3 of the proof, on samples: entropy and uniformity of ``h(c)`` for the maps of
    :func:`content_maps`.

    Among distributions on ``(0, 1)^{n_c}``, the uniform one has the largest entropy, ``0``.
    An encoder that is invariant to style reads ``h(c)``; maximal entropy then forces
    ``h(c)`` to be uniform, and a smooth map that pushes ``c`` onto the uniform distribution
    cannot merge two contents (Zimmermann et al. 2021, Proposition 5). Non-injective maps lose
    entropy: folding halves the volume (``−log 2``), dropping a coordinate collapses it (``−∞``).
    The uniformity loss of Wang & Isola (``t = 2``, lower is more spread out), the quantity
    InfoNCE's negatives push down, orders the maps the same way.

    Returns a DataFrame with columns ``map, injective, smooth, entropy, entropy_exact, uniformity``.
    """
    check_int("content_dim", content_dim, 1)
    check_int("n", n, k + 2)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    c = torch.randn(n, content_dim, generator=g)
    rows = []
    for name, (h, injective, smooth, exact) in content_maps().items():
        u = h(c)
        rows.append(dict(map=name, injective=injective, smooth=smooth, entropy=knn_entropy(u, k),
                         entropy_exact=exact, uniformity=float(uniformity(u[:uniformity_n]))))
    return pd.DataFrame(rows)


def short_training_r2(model: ContentStyleModel, config, steps: int = 300, eval_every: int = 50,
                      targets=("c", "s", "m1"), n_fit: int = 1000, n_test: int = 1000, seed: int = 0,
                      progress=None):
    """Train ``(g_1, g_2)`` briefly and record the linear ``R²`` of each block from ``g_1(x_1)``
    before training and every ``eval_every`` steps (the theorem's prediction, on a budget:
    content up, style and the modality-specific block down).

    ``config`` is a :class:`~mmcl_edu.training.TrainConfig` (e.g. ``preset("daunhawer").train``);
    ``steps`` overrides its step count.

    Returns ``(result, history)``: the final :class:`~mmcl_edu.training.TrainResult` and a
    DataFrame with columns ``step, target, r2`` (``step = 0``: the untrained encoder).
    """
    from .training import train

    check_int("steps", steps, 1)
    check_int("eval_every", eval_every, 1)
    kw = dict(n_fit=n_fit, n_test=n_test, regressors=("linear",), targets=list(targets))

    def r2_rows(step, result):
        t = evaluate(result, model, **kw)
        t = t[t["modality"] == "x1"]
        return [dict(step=step, target=r["target"], r2=r["r2"]) for _, r in t.iterrows()]

    rows = r2_rows(0, train(model, config, steps=0, seed=seed, progress=False))

    def callback(step, result):
        rows.extend(r2_rows(step, result))

    result = train(model, config, steps=steps, seed=seed, progress=progress, callback=callback,
                   callback_every=eval_every)
    return result, pd.DataFrame(rows)


@torch.no_grad()
def cross_correlation(model: ContentStyleModel, result, n: int = 2000, seed: int = 10**6 + 1) -> np.ndarray:
    """``|corr(ĉ_k, c_j)|`` between the learned coordinates ``ĉ = g_1(x_1)`` and the true content:
    a permutation-like matrix would mean coordinate-wise recovery; the theorem only promises a
    block (every ``ĉ_k`` may mix all ``c_j``)."""
    batch = model.sample(n, seed=seed)
    z1, _ = result.encode(batch.x1, batch.x2)
    a = z1.cpu().double().numpy()
    c = batch.latents["c"].cpu().double().numpy()
    k = a.shape[1]
    return np.abs(np.corrcoef(a.T, c.T)[:k, k:])
