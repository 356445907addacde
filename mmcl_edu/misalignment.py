"""Misaligned image–caption pairs (chapter 6; Cai et al. 2025).

Shared semantic variables ``c = (c_1, …, c_n)`` (the paper writes ``s``) generate an image
``x_1 = f_1(c, m_1)``. The caption is *misaligned* with the image in two ways:

* **selection bias** — it expresses only the semantics indexed by ``I_θ`` (``selected``);
* **perturbation bias** — of those, the ones in ``I_ρ ⊂ I_θ`` (``perturbed``) are distorted in
  each pair: ``c~_i = c_i + b_i ε_i`` with ``b_i ~ Bernoulli(p_perturb)``, ``ε_i ~ N(0, 1)``.

The caption is ``x_2 = f_2(c~_{I_θ}, m_2)``. The perturbation acts on what the caption says, not
on the latent causal graph: it is added after the semantics (and their dependence) are drawn.
Theorem 4.1 of the paper says contrastive learning block-identifies exactly
``c_{I_θ \\ I_ρ}`` (:func:`identified_set`). Index sets are 0-based: ``c_1`` is index 0.
"""
from __future__ import annotations

import numpy as np
import torch

from .env import shift_seed
from ._validation import check_choice, check_float, check_index_set, check_int
from .latents import PairedModel, random_correlation, resolve_device

DEPENDENCE_OPTIONS = ("independent", "dependent")


def validate_caption_policy(n_semantics: int, selected, perturbed) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Check ``I_ρ ⊊ I_θ ⊆ range(n)`` with ``I_θ`` non-empty; return both as sorted tuples."""
    n = check_int("n_semantics", n_semantics, 1)
    sel = check_index_set("selected", range(n) if selected is None else selected, n)
    per = check_index_set("perturbed", () if perturbed is None else perturbed, n)
    if not sel:
        raise ValueError("selected (I_θ) must be non-empty: a caption has to express at least one semantic variable")
    if not set(per) <= set(sel):
        raise ValueError(f"perturbed (I_ρ) must be a subset of selected (I_θ); {sorted(set(per) - set(sel))} are not selected")
    if set(per) == set(sel):
        raise ValueError("perturbed (I_ρ) must be a proper subset of selected (I_θ): otherwise nothing is identified")
    return sel, per


def identified_set(selected, perturbed=(), n_semantics: int | None = None) -> tuple[int, ...]:
    """The semantics that Theorem 4.1 says are block-identified: ``I_θ \\ I_ρ`` (sorted, 0-based)."""
    if n_semantics is None:
        idx = list(selected) + list(perturbed or ())
        n_semantics = (max(idx) + 1) if idx else 1
    sel, per = validate_caption_policy(n_semantics, selected, perturbed)
    return tuple(i for i in sel if i not in per)


class MisalignmentModel(PairedModel):
    """Cai et al.'s model of image–caption pairs with selection and perturbation bias.

    Parameters
    ----------
    n_semantics : int, default 10
        Number ``n`` of shared semantic variables.
    selected : iterable of int or None
        ``I_θ``, the semantics the caption expresses (0-based; ``None`` = all).
    perturbed : iterable of int, default ()
        ``I_ρ ⊊ I_θ``, the selected semantics that are randomly perturbed in the caption.
    specific_dim : int, default 5
        Size of each of the image-specific ``m_1`` and text-specific ``m_2``.
    dependence : {"independent", "dependent"}
        Semantics ``~ N(0, I)`` or ``~ N(0, Σ)`` with a random correlation matrix ``Σ``.
    p_perturb : float in (0, 1], default 0.75
        Probability that a variable of ``I_ρ`` is perturbed in a given pair.
    n_mixing_layers, seed, device : as in :class:`~mmcl_edu.latents.ContentStyleModel`.
    """

    blocks = ("c", "c_tilde", "m1", "m2")

    def __init__(self, n_semantics: int = 10, selected=None, perturbed=(), specific_dim: int = 5,
                 dependence: str = "independent", p_perturb: float = 0.75, n_mixing_layers: int = 3,
                 seed: int = 0, device=None):
        self.n_semantics = check_int("n_semantics", n_semantics, 1)
        self.selected, self.perturbed = validate_caption_policy(n_semantics, selected, perturbed)
        self.specific_dim = check_int("specific_dim", specific_dim, 0)
        self.dependence = check_choice("dependence", dependence, DEPENDENCE_OPTIONS)
        self.p_perturb = check_float("p_perturb", p_perturb, 0.0, 1.0, low_open=True)
        self.seed = check_int("seed", seed, 0)
        self.device = resolve_device(device)
        rng = np.random.default_rng(shift_seed(seed))
        self.chol = None
        if dependence == "dependent":
            sigma = random_correlation(self.n_semantics, rng)
            self.chol = torch.linalg.cholesky(torch.tensor(sigma, dtype=torch.float64)).float().to(self.device)
        self.sel_index = torch.tensor(self.selected, device=self.device)
        mask = torch.zeros(len(self.selected), dtype=torch.bool)
        for j, i in enumerate(self.selected):
            mask[j] = i in self.perturbed
        self.perturb_mask = mask.to(self.device)
        dims = (self.n_semantics + self.specific_dim, len(self.selected) + self.specific_dim)
        self.f1, self.f2 = self._mixings(dims, "distinct", check_int("n_mixing_layers", n_mixing_layers, 1), seed)

    @property
    def identified(self) -> tuple[int, ...]:
        """``I_θ \\ I_ρ``: the semantics the theory says are recovered."""
        return tuple(i for i in self.selected if i not in self.perturbed)

    def _sample_latents(self, n, g):
        c = self._normal(n, self.n_semantics, g, self.chol)
        m1 = self._normal(n, self.specific_dim, g)
        m2 = self._normal(n, self.specific_dim, g)
        kept = c[:, self.sel_index]
        eps = self._normal(n, len(self.selected), g)
        b = (torch.rand(n, len(self.selected), generator=g, device=self.device) < self.p_perturb)
        c_tilde = kept + (b & self.perturb_mask).to(kept.dtype) * eps
        latents = {"c": c, "c_tilde": c_tilde, "m1": m1, "m2": m2}
        return latents, torch.cat([c, m1], 1), torch.cat([c_tilde, m2], 1)

    def __repr__(self):
        return (f"MisalignmentModel(n_semantics={self.n_semantics}, selected={self.selected}, "
                f"perturbed={self.perturbed}, specific_dim={self.specific_dim}, dependence={self.dependence!r}, "
                f"p_perturb={self.p_perturb}, seed={self.seed}, device='{self.device}')")
