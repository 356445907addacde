"""The latent-structure regularizers of Jiang et al. (2023) (chapter 11).

Notation (course, paper in brackets): a batch of ``B`` pairs (paper ``N``) gives image codes
``ẑ_1 ∈ R^{B×d}`` (paper ``z_V``), text codes ``ẑ_2`` (``z_T``), the codes of augmented views
``ẑ_1^a``, ``ẑ_2^a`` (``z^a_V``, ``z^a_T``) and, for deep feature separation, the *independent*
(modality-specific) codes ``ẑ_1^i``, ``ẑ_2^i`` (``z^i_V``, ``z^i_T``); ``ẑ_1^(j)`` is row ``j``.
Every code is L2-normalised here, so ``⟨u, v⟩`` is a cosine; ``S_AB = A Bᵀ`` is the ``B×B`` matrix of
inner products ``⟨A^(j), B^(k)⟩`` of two code matrices (matrix products only, no loops); ``τ`` is
the temperature. In the code, ``z_v`` is ``ẑ_1`` and ``z_t`` is ``ẑ_2``.

* :func:`contrastive_loss` — the base ``L_Con`` (cross-modal InfoNCE both ways + in-modal terms);
* :func:`separation_loss` — deep feature separation ``L_Sep = L_Ortho + L^i_Con + L^i_Uni``;
* :func:`brownian_bridge_loss` — ``L_Br``, the augmented image on the bridge from ``ẑ_1`` to ``ẑ_2``;
* :func:`geometric_consistency_loss` — ``L_GC + L^a_GC``; :func:`cyclip_consistency` — CyCLIP's two
  terms, which are ``L_GC`` term by term.

Two printed formulas have typos, corrected here (chapter 11 teaches them): the in-modal numerator
of ``L^i_Con`` (an augmented view, not ``⟨z^i_Vj, z^i_Vj⟩``), and the closed form of ``L_Br``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._validation import check_choice, check_float
from .losses import intramodal_info_nce, symmetric_info_nce

BRIDGE_TIMES = ("uniform",)
#: The two forms of ``L_Ortho`` (:func:`orthogonality_loss`): ``"batch"`` (the default) and ``"sample"`` (as printed).
ORTHO_FORMS = ("batch", "sample")


def _unit(*zs: torch.Tensor) -> list[torch.Tensor]:
    """Check that the codes share one shape ``(B, d)`` and project them onto the unit sphere."""
    shape = zs[0].shape
    for z in zs:
        if z.ndim != 2 or z.shape != shape or len(z) < 2:
            raise ValueError(f"the codes must all have one shape (B >= 2, d); got {[tuple(z.shape) for z in zs]}")
    return [F.normalize(z, dim=1) for z in zs]


def contrastive_loss(z_v, z_t, z_v_aug, z_t_aug, temperature=0.1) -> torch.Tensor:
    """The base objective ``L_Con`` (paper: ``L_Con``):

    .. math::

        \\mathcal L_{\\mathrm{Con}} = \\tfrac14\\big(\\mathcal L_{1\\to 2} + \\mathcal L_{2\\to 1}
        + \\mathcal L_{1\\to 1} + \\mathcal L_{2\\to 2}\\big),

    ``L_{1→2} + L_{2→1}`` = twice the CLIP loss :func:`~mmcl_edu.losses.symmetric_info_nce` of
    ``(ẑ_1, ẑ_2)``; the in-modal ``L_{1→1}`` takes ``⟨ẑ_1^(j), ẑ_1^{a(j)}⟩/τ`` as the positive logit and
    ``⟨ẑ_1^(j), ẑ_1^(k)⟩/τ``, ``k ≠ j``, as the negatives (:func:`~mmcl_edu.losses.intramodal_info_nce`,
    symmetrised over the view and its augmentation); ``L_{2→2}`` likewise with ``ẑ_2``, ``ẑ_2^a``.
    """
    z_v, z_t, z_v_aug, z_t_aug = _unit(z_v, z_t, z_v_aug, z_t_aug)
    cross = 2 * symmetric_info_nce(z_v, z_t, temperature, "cosine")
    in_modal = intramodal_info_nce(z_v, z_v_aug, temperature, "cosine") + \
        intramodal_info_nce(z_t, z_t_aug, temperature, "cosine")
    return 0.25 * (cross + in_modal)


# ------------------------------------------------------------------ (a) deep feature separation
def orthogonality_loss(z_v, z_v_ind, z_t, z_t_ind, form: str = "batch") -> torch.Tensor:
    """``L_Ortho``, the independent codes kept apart from the shared ones, in one of two forms.

    ``form="batch"`` (the default) is the *difference loss* of Domain Separation Networks (Bousmalis et
    al. 2016), over the whole batch (``Ẑ`` the ``B × d`` matrix of a batch's codes):

    .. math:: \\mathcal L_{\\mathrm{Ortho}} = \\frac1{B^2}\\Big(\\|\\hat Z_1^\\top \\hat Z_1^i\\|_F^2
        + \\|\\hat Z_2^\\top \\hat Z_2^i\\|_F^2\\Big),

    the squared (uncentred) cross-correlations between every shared and every independent coordinate.
    It is zero only when no direction of ``ẑ^i`` varies with a direction of ``ẑ`` across samples, so ``ẑ^i``
    cannot copy ``ẑ``.

    ``form="sample"`` is the per-sample form Jiang et al. print,
    ``(1/B) Σ_j (⟨ẑ_1^(j), ẑ_1^{i(j)}⟩² + ⟨ẑ_2^(j), ẑ_2^{i(j)}⟩²)``: each sample's independent code orthogonal
    to its own shared code. Any ``ẑ^i = J ẑ`` with a fixed orthogonal ``J`` such that ``⟨u, J u⟩ = 0`` for every
    ``u`` (a quarter turn in each pair of coordinates) meets it exactly: the independent head may copy the
    shared code, rotated (chapter 11 shows both forms).
    """
    check_choice("form", form, ORTHO_FORMS)
    z_v, z_v_ind, z_t, z_t_ind = _unit(z_v, z_v_ind, z_t, z_t_ind)
    if form == "sample":
        return ((z_v * z_v_ind).sum(1).square() + (z_t * z_t_ind).sum(1).square()).mean()
    b = len(z_v)
    return ((z_v.T @ z_v_ind).square().sum() + (z_t.T @ z_t_ind).square().sum()) / b**2


def separation_uniformity(z_v_ind, z_t_ind, t: float = 2.0) -> torch.Tensor:
    """``L^i_Uni = log (1/B) Σ_{j,k} [G(ẑ_1^{i(j)}, ẑ_1^{i(k)}) + G(ẑ_2^{i(j)}, ẑ_2^{i(k)})]``, ``G(u, v) = exp(−t ‖u − v‖²)``
    with ``t = 2`` (paper: ``L^i_Uni``), as printed: all ``B²`` pairs (the ``j = k`` terms add the
    constant ``2B``) and both modalities inside one logarithm. For one modality it is
    ``log(1 + (B − 1) e^{U})`` with ``U`` the uniformity of Wang & Isola
    (:func:`~mmcl_edu.losses.uniformity`), so it is minimised by the same spread."""
    check_float("t", t, 0.0, None, low_open=True)
    z_v_ind, z_t_ind = _unit(z_v_ind, z_t_ind)
    # ‖u − v‖² = 2 − 2⟨u, v⟩ on the sphere
    logits = torch.cat([(-t * (2 - 2 * z @ z.T)).flatten() for z in (z_v_ind, z_t_ind)])
    return torch.logsumexp(logits, 0) - math.log(len(z_v_ind))


def separation_loss(z_v, z_t, z_v_ind, z_t_ind, z_v_ind_aug, z_t_ind_aug, temperature=0.1,
                    t: float = 2.0, ortho: str = "batch") -> torch.Tensor:
    """Deep feature separation (paper: ``L_Sep``), from Domain Separation Networks:

    .. math:: \\mathcal L_{\\mathrm{Sep}} = \\mathcal L_{\\mathrm{Ortho}} + \\mathcal L^i_{\\mathrm{Con}}
        + \\mathcal L^i_{\\mathrm{Uni}},

    :func:`orthogonality_loss` (in the form ``ortho``), the in-modal InfoNCE of the independent codes
    ``L^i_Con = ½ (L^i_{1→1} + L^i_{2→2})`` (:func:`~mmcl_edu.losses.intramodal_info_nce` between
    ``ẑ^i`` and the independent code of the augmented view ``ẑ^{i,a}``), and
    :func:`separation_uniformity`. **Typo corrected:** the printed ``L^i_{1→1}`` has
    ``⟨ẑ_1^{i(j)}, ẑ_1^{i(j)}⟩`` (a constant, 1) in its numerator; the positive must be the augmented view.
    """
    ortho = orthogonality_loss(z_v, z_v_ind, z_t, z_t_ind, ortho)
    a, b, c, d = _unit(z_v_ind, z_v_ind_aug, z_t_ind, z_t_ind_aug)
    con = 0.5 * (intramodal_info_nce(a, b, temperature, "cosine") + intramodal_info_nce(c, d, temperature, "cosine"))
    return ortho + con + separation_uniformity(z_v_ind, z_t_ind, t)


# ------------------------------------------------------------------ (b) Brownian bridge
def bridge_mean(z_v, z_t, t) -> torch.Tensor:
    """``μ = (t ẑ_1 + (1 − t) ẑ_2) / ‖t ẑ_1 + (1 − t) ẑ_2‖`` on unit codes; ``t`` a number or one per row."""
    z_v, z_t = _unit(z_v, z_t)
    t = torch.as_tensor(t, dtype=z_v.dtype, device=z_v.device).reshape(-1, 1)
    return F.normalize(t * z_v + (1 - t) * z_t, dim=1, eps=1e-12)


def brownian_bridge_loss(z_v, z_t, z_v_aug, t: float | str = 0.25, generator=None) -> torch.Tensor:
    """The Brownian bridge (paper: ``L_Br``): the augmented image code should lie on the bridge
    from ``ẑ_1`` (time 1) to ``ẑ_2`` (time 0), ``ẑ_1^a ~ N(μ, t(1 − t) I)`` (:func:`bridge_mean`).
    With ``t`` fixed the negative log-likelihood is, up to constants, ``(1/B) Σ_j ‖ẑ_1^{a(j)} − μ_j‖²``,
    which on unit vectors has the closed form

    .. math:: \\mathcal L_{\\mathrm{Br}} = \\frac1B \\sum_j \\Big(2 - 2\\,
        \\frac{t\\langle \\hat z_1^{(j)}, \\hat z_1^{a(j)}\\rangle + (1-t)\\langle \\hat z_2^{(j)}, \\hat z_1^{a(j)}\\rangle}
        {\\sqrt{t^2 + (1-t)^2 + 2t(1-t)\\langle \\hat z_1^{(j)}, \\hat z_2^{(j)}\\rangle}}\\Big).

    **Typo corrected:** the printed form drops the ``2 − 2`` (so it is *maximised*, not
    minimised, as written) and the square root of the denominator (``‖t ẑ_1 + (1−t) ẑ_2‖`` is a
    norm, not a squared norm).

    ``t``: a number in ``[0, 1]`` (the paper fixes 0.25, so ``μ`` is nearer the text), or
    ``"uniform"``: one ``t ~ U(0, 1)`` per pair (drawn with ``generator``), an extension; the
    squared distance is then left unweighted (the likelihood's ``1/(2t(1 − t))`` would explode at
    the ends of the bridge).
    """
    z_v, z_t, z_v_aug = _unit(z_v, z_t, z_v_aug)
    if isinstance(t, str):
        check_choice("t", t, BRIDGE_TIMES)
        t = torch.rand(len(z_v), generator=generator, device=z_v.device, dtype=z_v.dtype)
    else:
        t = torch.as_tensor(check_float("t", t, 0.0, 1.0), dtype=z_v.dtype, device=z_v.device)
    cos_vt = (z_v * z_t).sum(1)
    numerator = t * (z_v * z_v_aug).sum(1) + (1 - t) * (z_t * z_v_aug).sum(1)
    norm = (t * t + (1 - t) ** 2 + 2 * t * (1 - t) * cos_vt).clamp_min(1e-12).sqrt()
    return (2 - 2 * numerator / norm).mean()


# ------------------------------------------------------------------ (c) geometric consistency
def cyclip_consistency(z_v, z_t) -> tuple[torch.Tensor, torch.Tensor]:
    """CyCLIP's two consistency terms (Goel et al. 2022), with ``S_12 = ẑ_1 ẑ_2^T``:

    * cross-modal ``(1/B) Σ_{j,k} (⟨ẑ_1^(j), ẑ_2^(k)⟩ − ⟨ẑ_1^(k), ẑ_2^(j)⟩)² = (1/B) ‖S_12 − S_12ᵀ‖²_F``;
    * in-modal ``(1/B) Σ_{j,k} (⟨ẑ_1^(j), ẑ_1^(k)⟩ − ⟨ẑ_2^(j), ẑ_2^(k)⟩)² = (1/B) ‖S_11 − S_22‖²_F``.

    Their unweighted sum is Jiang et al.'s ``L_GC``; CyCLIP weights them (λ ≈ 0.25 each)."""
    z_v, z_t = _unit(z_v, z_t)
    n = len(z_v)
    s_vt = z_v @ z_t.T
    return (s_vt - s_vt.T).square().sum() / n, (z_v @ z_v.T - z_t @ z_t.T).square().sum() / n


def augmented_consistency(z_v, z_t, z_v_aug, z_t_aug) -> torch.Tensor:
    """``L^a_GC = (1/B) Σ_{j,k} [(S_11 − S_{1^a1^a})²_jk + (S_22 − S_{2^a2^a})²_jk]
    + (1/B) Σ_j (⟨ẑ_1^(j), ẑ_2^(j)⟩ − ⟨ẑ_1^{a(j)}, ẑ_2^{a(j)}⟩)²`` (paper: ``L^a_GC``): augmentation must not
    change the in-modal similarity structure nor the similarity of a pair."""
    z_v, z_t, z_v_aug, z_t_aug = _unit(z_v, z_t, z_v_aug, z_t_aug)
    n = len(z_v)
    in_modal = (z_v @ z_v.T - z_v_aug @ z_v_aug.T).square().sum() + (z_t @ z_t.T - z_t_aug @ z_t_aug.T).square().sum()
    pair = ((z_v * z_t).sum(1) - (z_v_aug * z_t_aug).sum(1)).square().sum()
    return (in_modal + pair) / n


def geometric_consistency_loss(z_v, z_t, z_v_aug, z_t_aug) -> torch.Tensor:
    """Geometric consistency (paper: ``L_GC + L^a_GC``): ``L_GC`` = the sum of the two
    :func:`cyclip_consistency` terms, plus :func:`augmented_consistency`."""
    cross, in_modal = cyclip_consistency(z_v, z_t)
    return cross + in_modal + augmented_consistency(z_v, z_t, z_v_aug, z_t_aug)
