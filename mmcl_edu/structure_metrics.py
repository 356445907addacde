"""Metrics of the structure of a joint embedding (Part III): retrieval, zero-shot accuracy, the
modality gap. All on L2-normalised codes (cosine similarity), all through matrix products.

Alignment and uniformity (Wang & Isola 2020) are :func:`mmcl_edu.losses.alignment` and
:func:`mmcl_edu.losses.uniformity`, applied to normalised codes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._validation import check_int


def _codes(name: str, z) -> torch.Tensor:
    z = torch.as_tensor(z)
    if z.ndim != 2 or len(z) < 1:
        raise ValueError(f"{name} must have shape (N >= 1, d); got {tuple(z.shape)}")
    return F.normalize(z.float(), dim=1)


def modality_gap(z_v, z_t) -> float:
    """The modality gap of Liang et al. (2022): ``‖mean_j z_Vj − mean_j z_Tj‖`` on normalised codes
    (the distance between the two modalities' centroids; 0 when they coincide, at most 2)."""
    z_v, z_t = _codes("z_v", z_v), _codes("z_t", z_t)
    if z_v.shape[1] != z_t.shape[1]:
        raise ValueError(f"z_v and z_t must have the same width; got {z_v.shape[1]} and {z_t.shape[1]}")
    return float((z_v.mean(0) - z_t.mean(0)).norm())


def recall_at_k(queries, gallery, k: int = 1) -> float:
    """Retrieval recall@k: the share of queries ``j`` whose own partner ``gallery[j]`` is among
    the ``k`` gallery items most similar (cosine) to it. Ties count against the query."""
    q, g = _codes("queries", queries), _codes("gallery", gallery)
    if q.shape != g.shape:
        raise ValueError(f"queries and gallery must be paired, with one shape; got {tuple(q.shape)} and {tuple(g.shape)}")
    check_int("k", k, 1)
    if k > len(g):
        raise ValueError(f"k must be at most the gallery size {len(g)}; got {k}")
    sims = q @ g.T
    own = sims.diagonal()
    rank = (sims >= own[:, None]).sum(1)  # 1 + number of items at least as similar, excluding ties in our favour
    return float((rank <= k).float().mean())


def zero_shot_accuracy(image_codes, prompt_codes, labels) -> float:
    """Zero-shot classification: each image goes to the class whose prompt code (row ``c`` of
    ``prompt_codes``, e.g. the text encoding of a canonical caption of class ``c``) is the most
    similar; the share of images whose label is that class."""
    z, p = _codes("image_codes", image_codes), _codes("prompt_codes", prompt_codes)
    labels = torch.as_tensor(labels).to(z.device)
    if z.shape[1] != p.shape[1]:
        raise ValueError(f"image_codes and prompt_codes must have the same width; got {z.shape[1]} and {p.shape[1]}")
    if labels.shape != (len(z),):
        raise ValueError(f"labels must have shape ({len(z)},); got {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= len(p):
        raise ValueError(f"labels must lie in range({len(p)}) (one prompt per class)")
    return float(((z @ p.T).argmax(1) == labels).float().mean())
