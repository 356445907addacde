"""Encoders ``g_i : x_i -> ẑ_i`` (chapters 1–4, 6–7).

The paper's encoder is an MLP 15 → [150, 750, 750, 750, 750, 150] → 5 with LeakyReLU(0.01)
and no normalisation; widths, depth, activation and output size are all arguments here.

An encoder may start with a fixed :class:`Whitening` of its input, ``x ↦ W (x − μ)`` with
``W = Σ_x^{-1/2}``, estimated once from a sample. It is an invertible linear map, so it changes
nothing the theory says, but it undoes the correlations and scales that the mixing ``f_i``
leaves in ``x_i`` and makes training several times faster (see ``benchmarks/bench_training.py``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._validation import check_choice, check_int

ACTIVATIONS = {
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}
PAPER_HIDDEN = (150, 750, 750, 750, 750, 150)


class Whitening(nn.Module):
    """A frozen ZCA whitening ``x ↦ Σ^{-1/2} (x − μ)`` with ``μ``, ``Σ`` the mean and covariance of
    a sample ``x ∈ R^{N×d}`` (eigenvalues below ``eps`` are clipped)."""

    def __init__(self, x: torch.Tensor, eps: float = 1e-6):
        super().__init__()
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"x must be a sample of shape (N >= 2, d); got {tuple(x.shape)}")
        x = x.detach().double()
        mean = x.mean(0)
        evals, evecs = torch.linalg.eigh(torch.cov(x.T).reshape(x.shape[1], x.shape[1]))
        matrix = evecs @ torch.diag(evals.clamp_min(eps).rsqrt()) @ evecs.T
        self.register_buffer("mean", mean.float())
        self.register_buffer("matrix", matrix.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) @ self.matrix.T


class MLPEncoder(nn.Sequential):
    """``in_dim → hidden[0] → … → hidden[-1] → out_dim``, an activation after every hidden layer.

    With ``normalize=True`` the output is projected onto the unit sphere (for cosine similarity).
    ``whiten``, a sample of inputs, prepends a frozen :class:`Whitening` fitted on it.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = PAPER_HIDDEN,
                 activation: str = "leaky_relu", normalize: bool = False, whiten: torch.Tensor | None = None):
        check_int("in_dim", in_dim, 1)
        check_int("out_dim", out_dim, 1)
        check_choice("activation", activation, ACTIVATIONS)
        hidden = tuple(hidden)
        for h in hidden:
            check_int("hidden (each width)", h, 1)
        layers, d = [], in_dim
        if whiten is not None:
            if whiten.ndim != 2 or whiten.shape[1] != in_dim:
                raise ValueError(f"whiten must be a sample of shape (N, in_dim={in_dim}); got {tuple(whiten.shape)}")
            layers.append(Whitening(whiten))
        for h in hidden:
            layers += [nn.Linear(d, h), ACTIVATIONS[activation]()]
            d = h
        layers.append(nn.Linear(d, out_dim))
        super().__init__(*layers)
        self.in_dim, self.out_dim, self.normalize = in_dim, out_dim, normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = super().forward(x)
        return nn.functional.normalize(z, dim=-1) if self.normalize else z


def make_encoders(in_dims: tuple[int, int], out_dim: int, hidden: Sequence[int] = PAPER_HIDDEN,
                  activation: str = "leaky_relu", shared: bool = False, normalize: bool = False,
                  whiten: tuple[torch.Tensor, torch.Tensor] | None = None) -> nn.ModuleList:
    """The encoder pair ``(g_1, g_2)``; ``shared=True`` uses one network for both modalities
    (only possible when both inputs have the same size). ``whiten``: samples ``(x_1, x_2)`` to
    fit each encoder's input :class:`Whitening` on (a shared encoder whitens with both)."""
    w1, w2 = (None, None) if whiten is None else whiten
    if shared:
        if in_dims[0] != in_dims[1]:
            raise ValueError(f"shared encoders need equal input sizes; got in_dims={tuple(in_dims)}")
        both = None if whiten is None else torch.cat([w1, w2])
        g1 = MLPEncoder(in_dims[0], out_dim, hidden, activation, normalize, whiten=both)
        return nn.ModuleList([g1, g1])
    g1 = MLPEncoder(in_dims[0], out_dim, hidden, activation, normalize, whiten=w1)
    return nn.ModuleList([g1, MLPEncoder(in_dims[1], out_dim, hidden, activation, normalize, whiten=w2)])


# ---- chapter 5: image and caption encoders (mmcl_edu.scenes) ----
#: How :class:`TextEncoder` pools over the words.
TEXT_POOLINGS = ("mean", "flatten")


class ImageEncoder(nn.Module):
    """A small CNN ``g_1``: per width in ``channels`` a 3×3 convolution (stride ``first_stride`` for the
    first, 2 for the others) and an activation, then an adaptive average pool to 4 × 4 (positions survive: no global pooling),
    a hidden linear layer and the output layer (the paper uses a ResNet-18; ours fits a CPU)."""

    def __init__(self, out_dim: int, channels: Sequence[int] = (16, 32, 64), activation: str = "leaky_relu",
                 normalize: bool = False, hidden: int = 128, first_stride: int = 1):
        super().__init__()
        check_int("out_dim", out_dim, 1)
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("first_stride", first_stride, (1, 2))
        layers, c_in = [], 3
        for i, c in enumerate(channels):  # stride 1 first by default: objects are a few pixels wide
            layers += [nn.Conv2d(c_in, check_int("channels (each)", c, 1), 3, stride=first_stride if i == 0 else 2,
                                 padding=1),
                       ACTIVATIONS[activation]()]
            c_in = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(c_in * 16, hidden), ACTIVATIONS[activation](), nn.Linear(hidden, out_dim))
        self.out_dim, self.normalize = out_dim, normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.features(x))
        return nn.functional.normalize(z, dim=-1) if self.normalize else z


class TextEncoder(nn.Module):
    """The caption encoder ``g_2``: word embedding → 1-D convolutions (kernel 3, one per width in
    ``channels``) → a pooling over the words → linear.

    ``pooling="mean"`` averages the words' features: the last layer sees where a word stands only through
    its neighbours in the convolutions.
    ``pooling="flatten"`` feeds every word position's features to the linear layer, as the paper's
    text encoder does (``length`` positions): the same word weighs differently at another place in the
    sentence, so the phrasing is visible to the encoding unless training teaches it to look past it.
    """

    def __init__(self, vocab_size: int, out_dim: int, channels: Sequence[int] = (16, 32, 64),
                 activation: str = "leaky_relu", normalize: bool = False, pooling: str = "mean",
                 length: int | None = None):
        super().__init__()
        check_int("vocab_size", vocab_size, 2)
        check_int("out_dim", out_dim, 1)
        check_choice("activation", activation, ACTIVATIONS)
        self.pooling = check_choice("pooling", pooling, TEXT_POOLINGS)
        if pooling == "flatten":
            if length is None:
                raise ValueError("length (the caption length) is needed for pooling='flatten'")
            check_int("length", length, 1)
        channels = tuple(channels)
        self.embedding = nn.Embedding(vocab_size, channels[0])
        layers, c_in = [], channels[0]
        for c in channels:
            layers += [nn.Conv1d(c_in, check_int("channels (each)", c, 1), 3, padding=1), ACTIVATIONS[activation]()]
            c_in = c
        self.convs = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * (length if pooling == "flatten" else 1), out_dim)
        self.out_dim, self.normalize = out_dim, normalize

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.convs(self.embedding(ids).transpose(1, 2))
        z = self.head(h.flatten(1) if self.pooling == "flatten" else h.mean(2))
        return nn.functional.normalize(z, dim=-1) if self.normalize else z


def make_scene_encoders(image_size: int, vocab_size: int, out_dim: int, channels: Sequence[int] = (16, 32, 64),
                        activation: str = "leaky_relu", normalize: bool = False,
                        first_stride: int = 1, text_pooling: str = "mean",
                        caption_length: int | None = None) -> nn.ModuleList:
    """``(g_1, g_2)`` for image/caption pairs: :class:`ImageEncoder` (its first convolution of stride
    ``first_stride``) and :class:`TextEncoder` (``text_pooling`` over captions of ``caption_length`` words)."""
    check_int("image_size", image_size, 8)
    if not tuple(channels):
        raise ValueError("channels (TrainConfig.hidden) must name at least one width")
    return nn.ModuleList([ImageEncoder(out_dim, channels, activation, normalize, first_stride=first_stride),
                          TextEncoder(vocab_size, out_dim, channels, activation, normalize, pooling=text_pooling,
                                      length=caption_length)])
