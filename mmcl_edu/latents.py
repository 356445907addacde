"""The latent variable model of paired data (chapter 2; Daunhawer et al. 2023).

Each pair ``(x_1, x_2)`` is generated from latent blocks

* content ``c`` — shared and identical in both modalities,
* style ``s`` — shared, but changed in the second modality:
  ``s~ = s + b ⊙ ε`` with ``b_k ~ Bernoulli(p_change)``,
* modality-specific ``m_1``, ``m_2`` — each seen by one modality only,

as ``x_1 = f_1(c, s, m_1)`` and ``x_2 = f_2(c, s~, m_2)`` with invertible mixing functions
``f_1 ≠ f_2`` (or ``f_1 = f_2``: the multi-view case).

Dependence options (``dependence=``):

``"independent"``
    every block ``~ N(0, I)``.
``"statistical"``
    each block ``~ N(0, Σ_block)`` with a random within-block correlation matrix
    (a Wishart draw rescaled to unit variances; ``ε`` uses the style block's matrix).
``"causal"``
    content causes style: ``s ← s + B c + a`` with ``B``, ``a`` entries ``~ N(0, 1)``.
``"statistical+causal"``
    both (the fourth setting of the paper's table).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .env import shift_seed
from ._validation import check_choice, check_float, check_int
from .mixing import InvertibleMLP

DEPENDENCE_OPTIONS = ("independent", "statistical", "causal", "statistical+causal")
MIXING_OPTIONS = ("distinct", "shared")


def resolve_device(device=None) -> torch.device:
    """``None`` → CUDA when available, else CPU; strings and devices are passed through."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be None, 'cpu', 'cuda' or a torch.device; got {device!r}") from None


def random_correlation(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A Wishart(df=dim, scale=I) draw rescaled to a correlation matrix."""
    a = rng.standard_normal((dim, dim))
    w = a @ a.T
    d = np.sqrt(np.diag(w))
    return w / d[:, None] / d[None, :]


@dataclass
class PairedBatch:
    """A batch of paired observations and the ground-truth latents that made them.

    ``x1``, ``x2`` are the observations; ``latents`` maps block names to tensors
    (``"c"``, ``"s"``, ``"s_tilde"``, ``"m1"``, ``"m2"`` for :class:`ContentStyleModel`).
    """

    x1: torch.Tensor
    x2: torch.Tensor
    latents: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.x1.shape[0]

    def to(self, device) -> "PairedBatch":
        return PairedBatch(self.x1.to(device), self.x2.to(device),
                           {k: v.to(device) for k, v in self.latents.items()})


class PairedModel:
    """Shared machinery of the two generative models: seeding, device, mixing, sampling API."""

    #: latent block names, in the order of ``latents``
    blocks: tuple[str, ...] = ()

    def _make_generator(self, seed: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(shift_seed(seed))
        return g

    def _normal(self, n, dim, generator, chol=None):
        e = torch.randn(n, dim, generator=generator, device=self.device)
        return e if chol is None else e @ chol.T

    def _mixings(self, in_dims: tuple[int, int], mixing: str, n_layers: int, seed: int):
        f1 = InvertibleMLP(in_dims[0], n_layers=n_layers, seed=seed * 1000 + 1)
        if mixing == "shared":
            if in_dims[0] != in_dims[1]:
                raise ValueError("mixing='shared' needs both modalities to have the same input size")
            f2 = f1
        else:
            f2 = InvertibleMLP(in_dims[1], n_layers=n_layers, seed=seed * 1000 + 2)
        return f1.to(self.device), f2.to(self.device)

    @property
    def observation_dims(self) -> tuple[int, int]:
        return (self.f1.dim, self.f2.dim)

    def to(self, device):
        """Move the model (mixing functions and parameters) to ``device``."""
        self.device = resolve_device(device)
        for name, value in list(vars(self).items()):
            if isinstance(value, (torch.Tensor, torch.nn.Module)):
                setattr(self, name, value.to(self.device))
        return self

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, generator: torch.Generator | None = None) -> PairedBatch:
        """Draw ``n`` pairs. Pass ``seed`` for a reproducible draw, or a ``torch.Generator``
        on the model's device to continue a stream (what the trainer does)."""
        check_int("n", n, 1)
        if generator is None:
            generator = self._make_generator(0 if seed is None else check_int("seed", seed, 0))
        latents, z1, z2 = self._sample_latents(n, generator)
        return PairedBatch(self.f1(z1), self.f2(z2), latents)


class ContentStyleModel(PairedModel):
    """Daunhawer et al.'s generative model of paired data.

    Parameters
    ----------
    content_dim, style_dim, specific_dim : int, default 5
        Sizes of ``c``, ``s`` and of each of ``m_1``, ``m_2``. ``style_dim`` and
        ``specific_dim`` may be 0.
    p_change : float in [0, 1], default 1.0
        Probability that a style dimension changes between the modalities.
    dependence : {"independent", "statistical", "causal", "statistical+causal"}
    mixing : {"distinct", "shared"}
        Distinct mechanisms ``f_1 ≠ f_2`` (multimodal) or one shared ``f`` (multi-view).
    n_mixing_layers : int, default 3
    seed : int, default 0
        Seeds the mixing functions and the dependence parameters (``Σ``, ``B``, ``a``);
        samples are seeded separately in :meth:`~PairedModel.sample`.
    device : None, str or torch.device
        Where samples are generated (``None``: CUDA when available).
    """

    blocks = ("c", "s", "s_tilde", "m1", "m2")

    def __init__(self, content_dim: int = 5, style_dim: int = 5, specific_dim: int = 5,
                 p_change: float = 1.0, dependence: str = "independent", mixing: str = "distinct",
                 n_mixing_layers: int = 3, seed: int = 0, device=None):
        self.content_dim = check_int("content_dim", content_dim, 1)
        self.style_dim = check_int("style_dim", style_dim, 0)
        self.specific_dim = check_int("specific_dim", specific_dim, 0)
        self.p_change = check_float("p_change", p_change, 0.0, 1.0)
        self.dependence = check_choice("dependence", dependence, DEPENDENCE_OPTIONS)
        self.mixing = check_choice("mixing", mixing, MIXING_OPTIONS)
        self.seed = check_int("seed", seed, 0)
        self.device = resolve_device(device)
        rng = np.random.default_rng(shift_seed(seed))
        statistical = "statistical" in dependence
        self.causal = "causal" in dependence
        self.chol = {}
        for name, dim in (("c", self.content_dim), ("s", self.style_dim), ("m1", self.specific_dim),
                          ("m2", self.specific_dim)):
            if statistical and dim > 0:
                sigma = random_correlation(dim, rng)
                self.chol[name] = torch.linalg.cholesky(torch.tensor(sigma, dtype=torch.float64)).float().to(self.device)
            else:
                self.chol[name] = None
        if self.causal:
            self.B = torch.tensor(rng.standard_normal((self.style_dim, self.content_dim)), dtype=torch.float32, device=self.device)
            self.a = torch.tensor(rng.standard_normal(self.style_dim), dtype=torch.float32, device=self.device)
        dim = self.content_dim + self.style_dim + self.specific_dim
        self.f1, self.f2 = self._mixings((dim, dim), self.mixing, check_int("n_mixing_layers", n_mixing_layers, 1), seed)

    def to(self, device):
        super().to(device)
        self.chol = {k: (None if v is None else v.to(self.device)) for k, v in self.chol.items()}
        return self

    def with_p_change(self, p_change: float) -> "ContentStyleModel":
        """The same model (same mixing functions and dependence parameters, shared, not copied)
        with another ``p_change``: for sweeps over the style-change probability."""
        import copy

        other = copy.copy(self)
        other.p_change = check_float("p_change", p_change, 0.0, 1.0)
        return other

    def draw_noise(self, n, g) -> dict:
        """The random numbers of one draw, in order: ``c, s, m1, m2`` (dependence applied), the
        change ``eps`` and the uniforms ``u`` with ``b = u < p_change`` (chapter 2's exercise
        rebuilds the pairs from them by hand)."""
        c = self._normal(n, self.content_dim, g, self.chol["c"])
        s = self._normal(n, self.style_dim, g, self.chol["s"])
        m1 = self._normal(n, self.specific_dim, g, self.chol["m1"])
        m2 = self._normal(n, self.specific_dim, g, self.chol["m2"])
        if self.causal:
            s = s + c @ self.B.T + self.a
        eps = self._normal(n, self.style_dim, g, self.chol["s"])
        u = torch.rand(n, self.style_dim, generator=g, device=self.device)
        return dict(c=c, s=s, m1=m1, m2=m2, eps=eps, u=u)

    def _sample_latents(self, n, g):
        noise = self.draw_noise(n, g)
        c, s, m1, m2 = noise["c"], noise["s"], noise["m1"], noise["m2"]
        s_tilde = s + (noise["u"] < self.p_change).to(s.dtype) * noise["eps"]
        latents = {"c": c, "s": s, "s_tilde": s_tilde, "m1": m1, "m2": m2}
        return latents, torch.cat([c, s, m1], 1), torch.cat([c, s_tilde, m2], 1)

    def __repr__(self):
        return (f"ContentStyleModel(content_dim={self.content_dim}, style_dim={self.style_dim}, "
                f"specific_dim={self.specific_dim}, p_change={self.p_change}, dependence={self.dependence!r}, "
                f"mixing={self.mixing!r}, seed={self.seed}, device='{self.device}')")
