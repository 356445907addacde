"""Exact information theory on small discrete joint distributions (chapter 10; Jiang et al. 2023).

A joint distribution is a table ``p[x_T, x_V, y]`` (a NumPy array or a torch tensor, non-negative,
summing to 1): axis 0 the text ``x_2`` (the paper's ``X_T``), axis 1 the image ``x_1`` (``X_V``),
axis 2 the label ``y`` (``Y``). Everything is exact (sums over the table, in nats):

* :func:`entropy`, :func:`mutual_information`, :func:`conditional_entropy` of any groups of axes;
* :func:`information_gap` — ``Δ_p = |I(x_2; y) − I(x_1; y)|``;
* :func:`feature_table` — the table ``p(z, y)`` of a feature ``z`` that is a function of one modality
  (``z = g_2(x_2)`` or ``z = g_1(x_1)``) or an **aligned** feature, a common function of both
  (``g_2(x_2) = g_1(x_1)`` almost surely, or the two in bijection);
* :func:`best_cross_entropy` — ``inf_h E[−log h(y | z)] = H(y | z)``, attained by the Bayes predictor
  ``h = p(y | z)`` (:func:`bayes_predictor`, :func:`cross_entropy`);
* :func:`common_part` — the finest aligned feature (the connected components of the support of
  ``p(x_T, x_V)``: the Gács–Körner common part), the best an exactly aligned feature can do;
* :func:`theorem_check` — both sides of Theorem 3.1,
  ``H(y | z) − H(y | x_1, x_2) ≥ Δ_p`` for aligned ``z``;
* :func:`example_table`, :func:`random_table` — the chapter's cases and seeded random tables.

Axis names in the API: ``"text"`` (0), ``"image"`` (1), ``"label"`` (2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._validation import check_choice, check_float, check_int

AXES = {"text": 0, "image": 1, "label": 2}
#: How far a table's sum may be from 1.
SUM_TOLERANCE = 1e-6


def joint_table(p, name: str = "p", ndim: int | None = 3) -> np.ndarray:
    """``p`` as a float64 NumPy array after checks: finite, non-negative, summing to 1 (within
    :data:`SUM_TOLERANCE`), with ``ndim`` axes (``None``: any number ≥ 1). ``ValueError`` naming ``name``."""
    if isinstance(p, torch.Tensor):
        p = p.detach().cpu().double().numpy()
    try:
        a = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of probabilities; got {type(p).__name__}") from None
    if a.ndim == 0 or (ndim is not None and a.ndim != ndim):
        want = f"{ndim} axes (x_T, x_V, y)" if ndim == 3 else f"{ndim} axes" if ndim else "at least one axis"
        raise ValueError(f"{name} must have {want}; got shape {a.shape}")
    if a.size == 0 or not np.isfinite(a).all() or (a < 0).any():
        raise ValueError(f"{name} must hold finite, non-negative probabilities")
    if abs(a.sum() - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"{name} must sum to 1; it sums to {a.sum():.8g}")
    return a


def _plogp(a: np.ndarray) -> float:
    nz = a[a > 0]
    return float(-(nz * np.log(nz)).sum())


def _axes(name: str, axes, ndim: int) -> tuple[int, ...]:
    axes = (axes,) if isinstance(axes, (str, int, np.integer)) else tuple(axes)
    out = []
    for ax in axes:
        if isinstance(ax, str):
            ax = AXES[check_choice(name, ax, AXES)]
        ax = check_int(name, ax, 0)
        if ax >= ndim:
            raise ValueError(f"{name} must name axes of the table (0..{ndim - 1} or {tuple(AXES)}); got {ax}")
        out.append(ax)
    if not out or len(set(out)) != len(out):
        raise ValueError(f"{name} must name at least one axis, each once; got {axes!r}")
    return tuple(sorted(out))


def marginal(p, keep) -> np.ndarray:
    """The marginal table of the axes ``keep`` (names or numbers), in axis order."""
    a = joint_table(p, ndim=None)
    keep = _axes("keep", keep, a.ndim)
    return a.sum(axis=tuple(i for i in range(a.ndim) if i not in keep))


def entropy(p, axes=None) -> float:
    """``H`` in nats of the axes ``axes`` of the table (default: all of them, the joint entropy)."""
    a = joint_table(p, ndim=None)
    return _plogp(a if axes is None else marginal(a, axes))


def mutual_information(p, a, b) -> float:
    """``I(A; B) = H(A) + H(B) − H(A, B)`` in nats, for two disjoint groups of axes ``a``, ``b``."""
    t = joint_table(p, ndim=None)
    a, b = _axes("a", a, t.ndim), _axes("b", b, t.ndim)
    if set(a) & set(b):
        raise ValueError(f"a and b must be disjoint groups of axes; got {a} and {b}")
    mi = entropy(t, a) + entropy(t, b) - entropy(t, a + b)
    return max(mi, 0.0)  # round-off below zero


def conditional_entropy(p, target, given) -> float:
    """``H(target | given) = H(target, given) − H(given)`` in nats."""
    t = joint_table(p, ndim=None)
    target, given = _axes("target", target, t.ndim), _axes("given", given, t.ndim)
    if set(target) & set(given):
        raise ValueError(f"target and given must be disjoint groups of axes; got {target} and {given}")
    return max(entropy(t, target + given) - entropy(t, given), 0.0)


def information_gap(p) -> float:
    """``Δ_p = |I(x_2; y) − I(x_1; y)|`` (paper: ``|I(X_T; Y) − I(X_V; Y)|``) of ``p[x_T, x_V, y]``."""
    t = joint_table(p)
    return abs(mutual_information(t, "text", "label") - mutual_information(t, "image", "label"))


# ---------------------------------------------------------------- features and cross-entropies
def _feature_map(name: str, g, n: int) -> np.ndarray:
    g = np.asarray(g.detach().cpu() if isinstance(g, torch.Tensor) else g)
    if g.shape != (n,) or not np.issubdtype(g.dtype, np.integer) or (g < 0).any():
        raise ValueError(f"{name} must be {n} non-negative integers (the feature value of each input value); "
                         f"got {g.dtype} of shape {g.shape}")
    return g.astype(np.int64)


def feature_table(p, g_t=None, g_v=None, aligned: str = "exact") -> np.ndarray:
    """The table ``p(z, y)`` of a discrete feature ``z`` (rows: feature values ``0..max``).

    * ``g_t`` only: ``z = g_2(x_2)``, a function of the text (``g_t[i]`` is the value at ``x_T = i``);
    * ``g_v`` only: ``z = g_1(x_1)``, a function of the image;
    * both: an **aligned** feature, ``z = g_2(x_2) = g_1(x_1)`` on every pair of the support
      (``aligned="exact"``), or ``g_2(x_2) = b(g_1(x_1))`` for a bijection ``b`` (``aligned="bijection"``;
      then ``z = g_2(x_2)``). ``ValueError`` when they are not.
    * neither: ``z = (x_2, x_1)``, the raw inputs.
    """
    t = joint_table(p)
    check_choice("aligned", aligned, ("exact", "bijection"))
    n_t, n_v, n_y = t.shape
    if g_t is None and g_v is None:
        return t.reshape(n_t * n_v, n_y)
    gt = None if g_t is None else _feature_map("g_t", g_t, n_t)
    gv = None if g_v is None else _feature_map("g_v", g_v, n_v)
    if gt is not None and gv is not None:
        it, iv = np.nonzero(t.sum(2) > 0)
        pairs = set(zip(gt[it].tolist(), gv[iv].tolist()))
        if aligned == "exact":
            bad = [(a, b) for a, b in pairs if a != b]
            if bad:
                raise ValueError(f"g_t and g_v are not aligned: g_t(x_T) != g_v(x_V) on pairs of the support "
                                 f"(feature values {sorted(bad)[:3]}); aligned features agree on every pair")
        else:
            left, right = {}, {}
            for a, b in pairs:
                if left.setdefault(a, b) != b or right.setdefault(b, a) != a:
                    raise ValueError("g_t and g_v are not in bijection on the support: one feature value of "
                                     "one modality meets two of the other")
    g, axis = (gt, 0) if gt is not None else (gv, 1)
    per_value = t.sum(1 - axis)  # (n_inputs, n_y)
    out = np.zeros((g.max() + 1, n_y))
    np.add.at(out, g, per_value)
    return out


def bayes_predictor(p_zy) -> np.ndarray:
    """``h(y | z) = p(y | z)`` for a table ``p(z, y)`` (uniform where ``p(z) = 0``): the predictor
    with the smallest expected cross-entropy."""
    t = joint_table(p_zy, "p_zy", ndim=2)
    pz = t.sum(1, keepdims=True)
    return np.where(pz > 0, t / np.where(pz > 0, pz, 1.0), 1.0 / t.shape[1])


def cross_entropy(p_zy, h) -> float:
    """``E[−log h(y | z)]`` under ``p(z, y)`` of a predictor given as a table ``h[z, y]`` (rows sum to 1)."""
    t = joint_table(p_zy, "p_zy", ndim=2)
    h = np.asarray(h, dtype=np.float64)
    if h.shape != t.shape or (h < 0).any() or not np.allclose(h.sum(1), 1.0, atol=1e-9):
        raise ValueError(f"h must be a table of shape {t.shape} whose rows are distributions over y")
    mask = t > 0
    with np.errstate(divide="ignore"):
        return float(-(t[mask] * np.log(h[mask])).sum())


def best_cross_entropy(p, g_t=None, g_v=None, aligned: str = "exact") -> float:
    """``inf_h E[CE(h(z), y)] = H(y | z)`` in nats for the feature of :func:`feature_table` (no map:
    the raw inputs, ``H(y | x_1, x_2)``)."""
    f = feature_table(p, g_t, g_v, aligned)
    return conditional_entropy(f, 1, 0)


def common_part(p) -> tuple[np.ndarray, np.ndarray]:
    """``(g_t, g_v)``: the finest aligned feature of ``p[x_T, x_V, y]`` — the connected component of
    each text and image value in the bipartite graph of the pairs with ``p(x_T, x_V) > 0`` (values
    outside the support get components of their own). Every aligned feature is a function of it."""
    t = joint_table(p)
    n_t, n_v = t.shape[:2]
    parent = list(range(n_t + n_v))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(t.sum(2) > 0)):
        parent[find(int(i))] = find(n_t + int(j))
    roots = [find(i) for i in range(n_t + n_v)]
    labels = {r: k for k, r in enumerate(dict.fromkeys(roots))}
    comp = np.array([labels[r] for r in roots], dtype=np.int64)
    return comp[:n_t], comp[n_t:]


@dataclass(frozen=True)
class BoundCheck:
    """Both sides of Theorem 3.1 for one table and one aligned feature (nats)."""

    i_text: float          # I(x_2; y)
    i_image: float         # I(x_1; y)
    i_both: float          # I(x_1, x_2; y)
    i_feature: float       # I(z; y)
    ce_inputs: float       # H(y | x_1, x_2): best cross-entropy from the raw inputs
    ce_feature: float      # H(y | z): best cross-entropy from the aligned feature
    delta_p: float         # |I(x_2; y) − I(x_1; y)|

    @property
    def excess(self) -> float:
        """The left side, ``H(y | z) − H(y | x_1, x_2) = I(x_1, x_2; y) − I(z; y)``."""
        return self.ce_feature - self.ce_inputs

    @property
    def slack(self) -> float:
        return self.excess - self.delta_p

    def holds(self, atol: float = 1e-10) -> bool:
        return self.slack >= -atol


def theorem_check(p, g_t=None, g_v=None, aligned: str = "exact") -> BoundCheck:
    """Theorem 3.1 on ``p[x_T, x_V, y]`` for the aligned feature ``(g_t, g_v)`` (default: the
    :func:`common_part`, which has the smallest excess of all aligned features)."""
    t = joint_table(p)
    if (g_t is None) != (g_v is None):
        raise ValueError("pass both g_t and g_v (an aligned feature) or neither (the common part)")
    if g_t is None:
        g_t, g_v = common_part(t)
    f = feature_table(t, g_t, g_v, aligned)
    i_t, i_v = mutual_information(t, "text", "label"), mutual_information(t, "image", "label")
    return BoundCheck(i_t, i_v, mutual_information(t, ("text", "image"), "label"), mutual_information(f, 0, 1),
                      conditional_entropy(t, "label", ("text", "image")), conditional_entropy(f, 1, 0),
                      abs(i_t - i_v))


# ---------------------------------------------------------------- tables
EXAMPLES = ("image_only", "shared", "independent", "xor")


def example_table(kind: str, k: int = 4, n_content: int = 3) -> np.ndarray:
    """The chapter's cases, ``p[x_T, x_V, y]``, with ``y`` uniform on ``k`` values:

    * ``"image_only"`` — shared content ``c`` uniform on ``n_content`` values, ``x_T = c``,
      ``x_V = (c, y)`` (index ``c·k + y``): ``y`` is visible only in the image, ``Δ_p = H(y) = log k``;
    * ``"shared"`` — ``x_T = x_V = y``: both see ``y``, ``Δ_p = 0``, aligned features lose nothing;
    * ``"independent"`` — ``x_T``, ``x_V``, ``y`` independent and uniform: every information is 0;
    * ``"xor"`` — ``y = (b_T + b_V) mod k`` for independent uniform ``b_T = x_T``, ``b_V = x_V``:
      neither modality alone knows anything (``Δ_p = 0``), both together know ``y``.
    """
    check_choice("kind", kind, EXAMPLES)
    k, n_c = check_int("k", k, 2), check_int("n_content", n_content, 1)
    if kind == "image_only":
        p = np.zeros((n_c, n_c * k, k))
        for c in range(n_c):
            for y in range(k):
                p[c, c * k + y, y] = 1.0 / (n_c * k)
    elif kind == "shared":
        p = np.zeros((k, k, k))
        p[np.arange(k), np.arange(k), np.arange(k)] = 1.0 / k
    elif kind == "independent":
        p = np.full((k, k, k), 1.0 / k**3)
    else:
        p = np.zeros((k, k, k))
        for a in range(k):
            for b in range(k):
                p[a, b, (a + b) % k] = 1.0 / k**2
    return p


def random_table(n_t: int = 4, n_v: int = 5, n_y: int = 3, seed: int = 0, blocks: int = 2,
                 density: float = 0.6) -> np.ndarray:
    """A seeded random ``p[x_T, x_V, y]`` whose support of ``(x_T, x_V)`` lies in ``blocks`` diagonal
    blocks (so that aligned features exist beyond constants), each pair of a block kept with
    probability ``density``; Dirichlet(1) weights."""
    n_t, n_v, n_y = check_int("n_t", n_t, 1), check_int("n_v", n_v, 1), check_int("n_y", n_y, 1)
    blocks = check_int("blocks", blocks, 1)
    if blocks > min(n_t, n_v):
        raise ValueError(f"blocks must be at most min(n_t, n_v) = {min(n_t, n_v)}; got {blocks}")
    density = check_float("density", density, 0.0, 1.0, low_open=True)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    bt, bv = rng.permutation(np.arange(n_t) % blocks), rng.permutation(np.arange(n_v) % blocks)
    support = (bt[:, None] == bv[None, :]) & (rng.random((n_t, n_v)) < density)
    support[np.arange(n_t), np.array([rng.choice(np.nonzero(bv == b)[0]) for b in bt])] = True  # no empty row
    w = rng.dirichlet(np.ones(n_t * n_v * n_y)).reshape(n_t, n_v, n_y) * support[:, :, None]
    return w / w.sum()
