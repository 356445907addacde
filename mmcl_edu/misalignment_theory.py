"""Numerical illustrations of the misalignment theorem (chapter 6; Cai et al. 2025).

Chapter 6 proves, step by step, that multimodal contrastive learning on misaligned image–caption
pairs (:class:`~mmcl_edu.misalignment.MisalignmentModel`) block-identifies exactly the semantics
``c_{I_θ \\ I_ρ}``. Each function below makes one step of the proof visible with a computation on
samples of the model. All of them use *oracle* encoders: because the mixing functions ``f_1``,
``f_2`` are invertible, an encoder may as well read the latents ``z_1 = (c, m_1)`` and
``z_2 = (c~_{I_θ}, m_2)`` directly (``f_1^{-1}``, ``f_2^{-1}``).

Index sets are 0-based, as everywhere in the package: ``c_1`` is index 0.

=================================  ==============================================================
function                           proof step it illustrates
=================================  ==============================================================
:func:`semantic_status`            which semantics the theorem keeps (identified/perturbed/omitted)
:func:`perturbation_propagation`   perturbation acts on the caption, not on the latent graph
:func:`alignment_floor`            alignment removes ``m_1``, ``m_2``, omitted and perturbed ``c``
:func:`caption_information`        the caption carries no information on omitted ``c_i``
                                   (beyond what dependence lends)
:func:`leak_cost`                  any dependence on a perturbed ``c_i`` costs alignment
:func:`entropy_candidates`         maximal entropy forces an invertible map of ``c_{I_θ \\ I_ρ}``
:func:`gaussian_r2`                closed-form ``R²`` of Gaussian linear prediction
:func:`semantic_r2`                per-semantic ``R²`` of a trained run (from ``evaluate``)
=================================  ==============================================================
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ._validation import check_float, check_int
from .evaluation import predictability
from .losses import alignment
from .misalignment import MisalignmentModel, identified_set, validate_caption_policy

def semantic_status(n_semantics: int, selected, perturbed=()) -> list[str]:
    """The theorem's verdict on every semantic ``c_i`` (0-based ``i``):

    * ``"identified"`` for ``i ∈ I_θ \\ I_ρ`` — kept, recovered up to an invertible map;
    * ``"perturbed"`` for ``i ∈ I_ρ`` — mentioned, but distorted in some pairs: discarded;
    * ``"omitted"`` for ``i ∉ I_θ`` — never mentioned: discarded.
    """
    sel, per = validate_caption_policy(n_semantics, selected, perturbed)
    return ["perturbed" if i in per else "identified" if i in sel else "omitted" for i in range(n_semantics)]


def oracle_latents(model: MisalignmentModel, n: int = 20_000, seed: int = 0):
    """Sample ``n`` pairs and recover ``z_1 = f_1^{-1}(x_1)`` and ``z_2 = f_2^{-1}(x_2)``.

    Returns ``(batch, z1, z2)``; ``z1 = (c, m_1)`` and ``z2 = (c~_{I_θ}, m_2)`` up to float
    round-off, which shows that nothing is lost by the mixing: an encoder can read the latents.
    """
    if not isinstance(model, MisalignmentModel):
        raise ValueError(f"model must be a MisalignmentModel; got {type(model).__name__}")
    batch = model.sample(check_int("n", n, 10), seed=seed)
    return batch, model.f1.inverse(batch.x1), model.f2.inverse(batch.x2)


# ---------------------------------------------------------------- (c) the caption, not the graph
def _sem_matrices(chol: torch.Tensor):
    """For ``c = L u`` (``L`` lower triangular) the linear SEM ``c = B c + D u`` with
    ``D = diag(L)`` and ``B = I − D L^{-1}`` strictly lower triangular."""
    L = chol.double().cpu()
    D = torch.diag(torch.diagonal(L))
    B = torch.eye(len(L), dtype=torch.float64) - D @ torch.linalg.inv(L)
    return B, D


@torch.no_grad()
def perturbation_propagation(model: MisalignmentModel, n: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """Compare Cai et al.'s perturbation with an intervention that propagates through the latent graph.

    Read the dependent semantics ``c = L u`` (``u ~ N(0, I)``, ``L`` the Cholesky factor of
    ``Σ``) as a linear structural causal model in the order ``c_1 → c_2 → … → c_n``:
    ``c_k = Σ_{l<k} B_{kl} c_l + L_{kk} u_k``. Two ways of distorting the perturbable semantics
    ``I_ρ`` of a pair, with the same Bernoulli mask ``b`` and noise ``ε``:

    * **perturbation of the caption** (the model): ``c~_i = c_i + b_i ε_i`` for ``i ∈ I_ρ``,
      computed *after* ``c`` is drawn; every other coordinate is copied, ``c~_k = c_k``;
    * **intervention in the graph** (not the model): ``do(c_i := c_i + b_i ε_i)`` and the
      descendants ``k > i`` recomputed from their structural equations with the same ``u``.

    Returns one row per semantic with the fraction of pairs in which the caption-side value differs
    from the image-side ``c_k`` under each mechanism (``NaN`` for omitted semantics, which the
    caption does not carry). Under the model only ``I_ρ`` is ever changed; under an intervention
    the change leaks into every descendant, and the set of untouched semantics would shrink.
    For an independent model ``B = 0`` and the two coincide.
    """
    batch = model.sample(check_int("n", n, 10), seed=seed)
    c = batch.latents["c"].double().cpu()
    c_tilde = batch.latents["c_tilde"].double().cpu()
    sel, per = list(model.selected), list(model.perturbed)
    delta = torch.zeros_like(c)
    delta[:, sel] = c_tilde - c[:, sel]  # b_i ε_i on I_ρ, exactly 0 elsewhere
    if model.chol is None:
        c_int = c + delta
    else:
        B, D = _sem_matrices(model.chol)
        u = torch.linalg.solve_triangular(model.chol.double().cpu(), c.T, upper=False).T
        c_int = torch.zeros_like(c)
        for k in range(model.n_semantics):
            c_int[:, k] = c_int[:, :k] @ B[k, :k] + D[k, k] * u[:, k] + delta[:, k]
    rows = []
    status = semantic_status(model.n_semantics, sel, per)
    for k in range(model.n_semantics):
        in_caption = k in sel
        caption_changed = float(((c_tilde[:, sel.index(k)] - c[:, k]).abs() > 1e-9).double().mean()) \
            if in_caption else math.nan
        graph_changed = float(((c_int[:, k] - c[:, k]).abs() > 1e-6).double().mean()) if in_caption else math.nan
        rows.append(dict(semantic=f"c_{k + 1}", index=k, status=status[k],
                         changed_by_perturbation=caption_changed, changed_by_intervention=graph_changed))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- (a) alignment removes m, c_ρ, c_omitted
@torch.no_grad()
def alignment_floor(model: MisalignmentModel, n: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """How well each one-dimensional feature of one modality can be aligned with the other modality.

    Step 1 of the proof: a minimiser of the objective aligns, ``g_1(x_1) = g_2(x_2)`` almost
    surely. Take a feature ``u`` that the image encoder could output (one coordinate ``c_i`` or
    ``m_{1,k}``; for the caption side ``m_{2,k}``). Two numbers per feature:

    ``same_variable_mse``
        ``E (c_i − c~_i)^2`` for the *oracle pair* that reads ``c_i`` from the image and
        ``c~_i`` from the caption (``i ∈ I_θ``). It is ``0`` for identified semantics and
        ``p_perturb · E ε^2 = p_perturb`` for perturbed ones.
    ``best_partner_mse``
        ``min_{g} E (u − g(x_2))^2 = E Var(u | x_2)`` — the smallest misalignment *any* caption
        encoder can achieve against ``u`` (or any image encoder against a caption feature). It is
        estimated as ``(1 − R²) Var(u)`` with a linear predictor from the other modality's latents
        (exact for Gaussian targets without perturbation, an upper bound otherwise). It is ``0``
        only when ``u`` is a function of the other modality: for ``c_{I_θ \\ I_ρ}``. For ``m_1``,
        ``m_2`` and, in the independent case, omitted semantics it is ``Var(u) = 1``.
    """
    batch, z1, z2 = oracle_latents(model, n, seed)
    c, c_tilde = batch.latents["c"], batch.latents["c_tilde"]
    sel = list(model.selected)
    status = semantic_status(model.n_semantics, sel, model.perturbed)
    rows = []

    def floor(u, other):
        var = float(u.var())
        r2 = max(0.0, predictability(other, u[:, None], "linear", seed=seed))
        return (1.0 - r2) * var

    for i in range(model.n_semantics):
        same = float(((c[:, i] - c_tilde[:, sel.index(i)]) ** 2).mean()) if i in sel else math.nan
        rows.append(dict(feature=f"c_{i + 1}", block="c", status=status[i],
                         same_variable_mse=same, best_partner_mse=floor(c[:, i], z2)))
    for block, z_own, other in (("m1", batch.latents["m1"], z2), ("m2", batch.latents["m2"], z1)):
        for k in range(z_own.shape[1]):
            rows.append(dict(feature=f"{block}_{k + 1}", block=block,
                             status="image-specific" if block == "m1" else "text-specific",
                             same_variable_mse=math.nan, best_partner_mse=floor(z_own[:, k], other)))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- (b) omitted semantics
def gaussian_r2(sigma, target: int, given, noise=None) -> float:
    """Closed-form ``R²`` of the best linear predictor of ``c_target`` from ``c_given + noise``.

    For ``c ~ N(0, Σ)`` and independent noise of variances ``noise`` on the given coordinates,
    ``R² = Σ_{t,G} (Σ_{G,G} + diag(noise))^{-1} Σ_{G,t} / Σ_{t,t}``. Without noise this is the
    conditional-mean predictor, the best predictor of all. With ``Σ = I`` it is ``0`` for every
    target outside ``given``: an independent omitted semantic is unpredictable.
    """
    S = np.asarray(sigma, dtype=float)
    given = list(given)
    if not given:
        return 0.0
    noise = np.zeros(len(given)) if noise is None else np.asarray(noise, dtype=float)
    cov = S[np.ix_(given, given)] + np.diag(noise)
    v = S[target, given]
    return float(v @ np.linalg.solve(cov, v) / S[target, target])


def model_covariance(model: MisalignmentModel) -> np.ndarray:
    """``Σ`` of the semantics (the identity for ``dependence="independent"``)."""
    if model.chol is None:
        return np.eye(model.n_semantics)
    L = model.chol.double().cpu().numpy()
    return L @ L.T


@torch.no_grad()
def caption_information(model: MisalignmentModel, n: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """How much the caption tells about each semantic, and how much an identified block reveals.

    Columns, one row per semantic ``c_i``:

    ``r2_from_caption``
        ``R²`` of a linear probe predicting ``c_i`` from the caption latents
        ``z_2 = (c~_{I_θ}, m_2)`` (:func:`~mmcl_edu.evaluation.predictability`);
    ``r2_from_caption_theory``
        the same in closed form (:func:`gaussian_r2`; perturbed coordinates carry noise of
        variance ``p_perturb``, the variance of ``b_i ε_i``);
    ``r2_from_identified_theory``
        ``R²`` of ``c_i`` from the identified block ``c_{I_θ \\ I_ρ}`` alone — what an encoder that
        block-identifies exactly that block reveals about ``c_i`` through the dependence. It is
        ``1`` on the identified block and, with independent semantics, ``0`` elsewhere.

    The best predictor of an omitted ``c_i`` from the caption is its conditional mean
    ``E[c_i | c~_{I_θ}]``; with independent semantics that is the constant ``E c_i = 0``.
    """
    batch, _, z2 = oracle_latents(model, n, seed)
    c = batch.latents["c"]
    sigma = model_covariance(model)
    sel, per, ident = list(model.selected), set(model.perturbed), list(model.identified)
    noise = [model.p_perturb if i in per else 0.0 for i in sel]
    status = semantic_status(model.n_semantics, sel, model.perturbed)
    rows = []
    for i in range(model.n_semantics):
        rows.append(dict(semantic=f"c_{i + 1}", status=status[i],
                         r2_from_caption=predictability(z2, c[:, i:i + 1], "linear", seed=seed),
                         r2_from_caption_theory=gaussian_r2(sigma, i, sel, noise),
                         r2_from_identified_theory=gaussian_r2(sigma, i, ident)))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- perturbed semantics: contradiction
@torch.no_grad()
def leak_cost(model: MisalignmentModel, weights=(0.0, 0.1, 0.3, 1.0), n: int = 20_000,
              seed: int = 0) -> pd.DataFrame:
    """Misalignment of encoders that lean on a perturbed semantic with weight ``λ``.

    Take the first identified semantic ``c_j`` and the first perturbed one ``c_i`` and the oracle
    pair ``g_1(x_1) = c_j + λ c_i``, ``g_2(x_2) = c~_j + λ c~_i``. Then
    ``g_1 − g_2 = −λ b_i ε_i`` and

    .. math:: E\\,(g_1(x_1) - g_2(x_2))^2 = λ^2\\, p_{\\mathrm{perturb}}\\, E ε_i^2 = λ^2 p_{\\mathrm{perturb}}.

    Any ``λ ≠ 0`` breaks the almost-sure alignment a minimiser must have: this is the contradiction
    of the proof, in numbers. Returns columns ``weight, mse, theory``.
    """
    if not model.perturbed:
        raise ValueError("leak_cost needs a model with at least one perturbed semantic (perturbed=...)")
    batch = model.sample(check_int("n", n, 10), seed=seed)
    c, ct = batch.latents["c"], batch.latents["c_tilde"]
    sel = list(model.selected)
    j, i = model.identified[0], model.perturbed[0]
    rows = []
    for lam in weights:
        lam = check_float("weights (each)", lam)
        g1 = c[:, j] + lam * c[:, i]
        g2 = ct[:, sel.index(j)] + lam * ct[:, sel.index(i)]
        rows.append(dict(weight=lam, mse=float(((g1 - g2) ** 2).mean()), theory=lam ** 2 * model.p_perturb))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- maximal entropy: invertibility
def binned_entropy(z, bins: int = 20) -> float:
    """Plug-in estimate of the differential entropy (nats) of ``z`` in ``(0, 1)^d``:
    the entropy of the histogram with ``bins`` cells per axis minus ``d log bins``.

    It is ``≈ 0`` for the uniform distribution (the maximum on the cube) and falls like
    ``−k log bins`` for a distribution squeezed onto a ``(d − k)``-dimensional set, whose
    differential entropy is ``−∞``.
    """
    z = np.asarray(z.detach().cpu() if isinstance(z, torch.Tensor) else z, dtype=float)
    check_int("bins", bins, 1)
    idx = np.clip((z * bins).astype(int), 0, bins - 1)
    flat = np.ravel_multi_index(idx.T, (bins,) * z.shape[1])
    p = np.bincount(flat, minlength=bins ** z.shape[1]) / len(z)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() - z.shape[1] * math.log(bins))


@torch.no_grad()
def entropy_candidates(model: MisalignmentModel, n: int = 50_000, seed: int = 0, bins=(5, 10, 20)) -> pd.DataFrame:
    """Perfectly aligned encoder pairs that differ only in entropy (the last step of the proof).

    Every candidate reads only identified semantics, so ``g_1(x_1) = g_2(x_2)`` exactly. With
    ``Φ`` the standard normal CDF (which maps ``N(0, 1)`` to uniform on ``(0, 1)``):

    ``collapsed``
        the constant ``(1/2, …, 1/2)``;
    ``one semantic``
        ``(Φ(c_j), …, Φ(c_j))`` for the first identified ``c_j`` (a line in the cube);
    ``all identified``
        ``(Φ(c_j))_{j ∈ I_θ \\ I_ρ}`` — uniform on the cube (independent semantics), an invertible
        map of the identified block.

    Alignment cannot tell them apart; the entropy term can: only the last reaches the maximum
    ``H = 0`` on ``(0, 1)^n``, the others fall without bound as the histogram gets finer. Returns
    columns ``candidate, alignment, bins, entropy``.
    """
    batch = model.sample(check_int("n", n, 100), seed=seed)
    c, ct = batch.latents["c"].double(), batch.latents["c_tilde"].double()
    sel, ident = list(model.selected), list(model.identified)
    d = len(ident)
    img = torch.special.ndtr(c[:, ident])
    cap = torch.special.ndtr(ct[:, [sel.index(i) for i in ident]])
    cands = {
        "collapsed": (torch.full((n, d), 0.5, dtype=torch.float64), torch.full((n, d), 0.5, dtype=torch.float64)),
        "one semantic": (img[:, :1].repeat(1, d), cap[:, :1].repeat(1, d)),
        "all identified": (img, cap),
    }
    rows = []
    for name, (z1, z2) in cands.items():
        align = float(alignment(z1, z2))
        for b in bins:
            rows.append(dict(candidate=name, alignment=align, bins=b, entropy=binned_entropy(z1.clamp(0, 1 - 1e-12), b)))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- trained results
def semantic_r2(table: pd.DataFrame, regressor: str = "linear") -> pd.DataFrame:
    """Per-semantic ``R²`` from an :func:`~mmcl_edu.evaluation.evaluate` table made with
    ``per_dimension=True``: rows ``c_1 … c_n`` (index 0-based ``dim``), columns ``x1``, ``x2``,
    averaged over seeds."""
    t = table[(table["target"] == "c") & (table["dim"] >= 0) & (table["regressor"] == regressor)]
    if t.empty:
        raise ValueError("the table has no per-dimension rows for target 'c' with regressor "
                         f"{regressor!r}: call evaluate(..., per_dimension=True, regressors=({regressor!r},))")
    return t.pivot_table(index="dim", columns="modality", values="r2", aggfunc="mean")
