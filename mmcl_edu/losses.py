"""Contrastive losses (chapter 1).

All losses work on a batch of ``B`` paired representations ``ẑ_1, ẑ_2 ∈ R^{B×d}`` and build
``B×B`` similarity matrices with matrix products — never a ``B×B×d`` tensor.

Similarity ``sim(u, v)``:

* ``"euclidean"``: ``−‖u − v‖²`` (the numerical experiments of Daunhawer et al.),
  computed as ``2 u·v − ‖u‖² − ‖v‖²``;
* ``"cosine"``: ``u·v / (‖u‖ ‖v‖)`` (CLIP).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_choice, check_float

SIMILARITIES = ("euclidean", "cosine")
NEGATIVES = ("cross", "intra")


def similarity_matrix(a: torch.Tensor, b: torch.Tensor, similarity: str = "euclidean") -> torch.Tensor:
    """``S_ij = sim(a_i, b_j)`` for ``a ∈ R^{B×d}``, ``b ∈ R^{B'×d}``."""
    check_choice("similarity", similarity, SIMILARITIES)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must be 2-D with the same number of columns; got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if similarity == "cosine":
        return F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
    return 2 * a @ b.T - (a * a).sum(1, keepdim=True) - (b * b).sum(1)[None, :]


def _check_pair(z1, z2):
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both have shape (B, d); got {tuple(z1.shape)} and {tuple(z2.shape)}")


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float | torch.Tensor = 1.0,
             similarity: str = "euclidean") -> torch.Tensor:
    """One-directional InfoNCE (van den Oord et al. 2018): pick ``z2_i`` among all ``z2_j``.

    .. math::

        \\mathcal L_{1\\to 2} = -\\frac1B \\sum_{i=1}^B
        \\log \\frac{\\exp(\\mathrm{sim}(\\hat z_{1,i}, \\hat z_{2,i})/\\tau)}
                    {\\sum_{j=1}^B \\exp(\\mathrm{sim}(\\hat z_{1,i}, \\hat z_{2,j})/\\tau)}
    """
    _check_pair(z1, z2)
    _check_temperature(temperature)
    logits = similarity_matrix(z1, z2, similarity) / temperature
    return F.cross_entropy(logits, torch.arange(len(z1), device=z1.device))


def symmetric_info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float | torch.Tensor = 1.0,
                       similarity: str = "euclidean") -> torch.Tensor:
    """The symmetric (CLIP) InfoNCE with cross-modal negatives (Radford et al. 2021):

    .. math::

        \\mathcal L = \\tfrac12\\left(\\mathcal L_{1\\to 2} + \\mathcal L_{2\\to 1}\\right),

    i.e. the mean of the cross-entropies of the rows and of the columns of the ``B×B``
    logit matrix ``S/τ`` with the diagonal as targets.
    """
    _check_pair(z1, z2)
    _check_temperature(temperature)
    logits = similarity_matrix(z1, z2, similarity) / temperature
    target = torch.arange(len(z1), device=z1.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def intramodal_info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float | torch.Tensor = 1.0,
                        similarity: str = "euclidean") -> torch.Tensor:
    """InfoNCE with *intra-modal* negatives, as in the numerical experiments of Daunhawer et al.

    The positive of ``ẑ_{1,i}`` is ``ẑ_{2,i}``; its negatives are the other samples of its own
    modality, ``ẑ_{1,j}``, ``j ≠ i`` (the official code draws them from an extra batch; within
    the batch is equivalent in expectation and cheaper). Symmetrised:

    .. math::

        \\mathcal L = -\\frac1{2B} \\sum_{i}\\Big[
        \\log \\frac{e^{\\mathrm{sim}(\\hat z_{1,i},\\hat z_{2,i})/\\tau}}
        {e^{\\mathrm{sim}(\\hat z_{1,i},\\hat z_{2,i})/\\tau} + \\sum_{j\\ne i} e^{\\mathrm{sim}(\\hat z_{1,i},\\hat z_{1,j})/\\tau}}
        + (1 \\leftrightarrow 2)\\Big]
    """
    _check_pair(z1, z2)
    _check_temperature(temperature)
    pos = _paired_similarity(z1, z2, similarity) / temperature
    eye = torch.eye(len(z1), dtype=torch.bool, device=z1.device)
    total = 0.0
    for z in (z1, z2):
        neg = (similarity_matrix(z, z, similarity) / temperature).masked_fill(eye, float("-inf"))
        logits = torch.cat([pos[:, None], neg], dim=1)
        total = total + (torch.logsumexp(logits, dim=1) - pos).mean()
    return 0.5 * total


def _paired_similarity(z1, z2, similarity):
    if similarity == "cosine":
        return (F.normalize(z1, dim=1) * F.normalize(z2, dim=1)).sum(1)
    check_choice("similarity", similarity, SIMILARITIES)
    return -((z1 - z2) ** 2).sum(1)


def _check_temperature(t):
    if isinstance(t, torch.Tensor):
        # the sign is read on the CPU only: reading a GPU tensor's value would wait for the device on every step
        # (a learnable temperature, exp(log τ), is positive by construction)
        if t.numel() != 1 or (t.device.type == "cpu" and not bool(t.detach() > 0)):
            raise ValueError(f"temperature must be a positive scalar; got {t}")
    else:
        check_float("temperature", t, 0.0, None, low_open=True)


class InfoNCE(nn.Module):
    """InfoNCE as a module, with a fixed or learnable temperature.

    Parameters
    ----------
    temperature : float, default 1.0
        ``τ``; with ``learnable_temperature=True`` this is the initial value and
        ``log τ`` is trained (as in CLIP).
    similarity : {"euclidean", "cosine"}
    negatives : {"cross", "intra"}
        ``"cross"``: :func:`symmetric_info_nce` (CLIP form); ``"intra"``:
        :func:`intramodal_info_nce` (Daunhawer et al.'s numerical experiments).
    """

    def __init__(self, temperature: float = 1.0, similarity: str = "euclidean", negatives: str = "cross",
                 learnable_temperature: bool = False):
        super().__init__()
        check_float("temperature", temperature, 0.0, None, low_open=True)
        self.similarity = check_choice("similarity", similarity, SIMILARITIES)
        self.negatives = check_choice("negatives", negatives, NEGATIVES)
        log_t = torch.tensor(math.log(temperature))
        if learnable_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)

    @property
    def temperature(self) -> torch.Tensor:
        return self.log_temperature.exp()

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        fn = symmetric_info_nce if self.negatives == "cross" else intramodal_info_nce
        return fn(z1, z2, self.temperature, self.similarity)


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """Alignment loss of Wang & Isola (2020): ``E ‖ẑ_1 − ẑ_2‖^α`` over positive pairs."""
    _check_pair(z1, z2)
    check_float("alpha", alpha, 0.0, None, low_open=True)
    return (z1 - z2).norm(dim=1).pow(alpha).mean()


def uniformity(z: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """Uniformity loss of Wang & Isola (2020): ``log E_{i≠j} exp(−t ‖ẑ_i − ẑ_j‖²)``.

    Lower is more uniform; on the unit sphere it is minimised by the uniform distribution.
    """
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"z must have shape (B, d) with B >= 2; got {tuple(z.shape)}")
    check_float("t", t, 0.0, None, low_open=True)
    sq = -similarity_matrix(z, z, "euclidean").clamp_max(0)  # ‖z_i − z_j‖², clamped against round-off
    iu = torch.triu_indices(len(z), len(z), offset=1, device=z.device)
    return torch.logsumexp(-t * sq[iu[0], iu[1]], dim=0) - math.log(iu.shape[1])
