"""Image/caption pairs: a procedurally rendered stand-in for Multimodal3DIdent (chapter 5).

Each pair is one object on a background (``x_1``: an RGB image, ``3 × S × S``) and a one-sentence
caption (``x_2``: padded word ids). The ground-truth factors (``FACTORS``):

==================  ===========  ==========  =====================================================
factor              kind         seen by     values
==================  ===========  ==========  =====================================================
``shape``           discrete     both        7 classes (``SHAPES``), asymmetric enough to be told
                                             apart under rotation
``x_position``      discrete     both        3 columns (left, centre, right)
``y_position``      discrete     both        3 rows (top, middle, bottom)
``hue``             continuous   both        object hue in ``HUE_RANGE``; the caption names it only
                                             through the nearest colour of a random palette
``rotation``        continuous   image       object rotation, radians in ``ROTATION_RANGE``
``background_hue``  continuous   image       background hue in ``HUE_RANGE``
``spotlight_x/y``   continuous   image       position of the light, image coordinates in [0, 1]
``template``        discrete     caption     which of the 5 sentence templates (phrasing)
==================  ===========  ==========  =====================================================

``hue_depends_on_x=True`` draws the hue inside the third of ``HUE_RANGE`` that belongs to the
x-position (a causal link between two shared factors, used by chapter 8). Two caption policies
(chapter 8, Cai et al.'s selection and perturbation bias): ``omitted`` (factor names of
``CAPTION_FACTORS``) leaves those factors' words out of every caption (they are not in ``I_θ``);
``caption_noise`` (factor → probability) replaces the caption's value of a shared discrete factor
by a uniform draw (they are in ``I_ρ``). The caption's values of the mentioned factors are in
``latents["caption_<factor>"]``.

Rendering is vectorised in torch on the model's device (one signed-distance map per shape, a
soft edge, HSV colours, a multiplicative spotlight). Measured with ``benchmarks/bench_scenes.py``
on a busy 2-core machine: 512 pairs of 32 × 32 in about 60 ms on one thread, and chapter 5's
earlier quick batch of 128 in 3–5 % of a training step. Its present quick encoder (first stride 2)
makes a step about three times cheaper, so drawing its batch of 64 takes about a fifth of a step
(a one-thread profile: about 2 ms of 11). The trainer still draws **fresh** pairs every step instead
of cycling through a fixed pool: fresh pairs cannot be overfitted and need no memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._validation import check_choice, check_float, check_int
from .latents import PairedBatch, PairedModel, resolve_device

SHAPES = ("circle", "square", "triangle", "cross", "ring", "ell", "tee")
X_WORDS = ("left", "centre", "right")
Y_WORDS = ("top", "middle", "bottom")
#: Colour names and their hues (HSV hue in [0, 1]); a caption names the object's hue with the
#: nearest name of a palette drawn at random for each pair.
COLOURS = {"red": 0.0, "orange": 0.08, "yellow": 0.16, "lime": 0.25, "green": 0.33, "teal": 0.45,
           "cyan": 0.5, "azure": 0.58, "blue": 0.66, "violet": 0.75}
HUE_RANGE = (0.0, 0.78)  # not the whole circle: red at both ends would make R² of the hue meaningless
ROTATION_RANGE = (-math.pi / 3, math.pi / 3)
#: The sentence templates (the text-only factor ``template``); slots in braces.
TEMPLATES = (
    "a {colour} {shape} at the {y} {x}",
    "there is a {colour} {shape} in the {y} {x} of the picture",
    "the {shape} in the {y} {x} is {colour}",
    "{y} {x} : one {shape} , coloured {colour}",
    "we see a {shape} painted {colour} , placed {y} {x}",
)
PAD = "<pad>"


@dataclass(frozen=True)
class Factor:
    """One ground-truth factor: ``kind`` "discrete" (``values`` classes) or "continuous" (range
    ``values``), and which modality shows it ("shared", "image" or "text")."""

    name: str
    kind: str
    seen_by: str
    values: object

    @property
    def chance(self) -> float:
        """Accuracy of guessing (discrete factors, uniform classes); R² 0 for continuous ones."""
        return 1.0 / self.values if self.kind == "discrete" else 0.0


FACTORS = {f.name: f for f in (
    Factor("shape", "discrete", "shared", len(SHAPES)),
    Factor("x_position", "discrete", "shared", 3),
    Factor("y_position", "discrete", "shared", 3),
    Factor("hue", "continuous", "shared", HUE_RANGE),
    Factor("rotation", "continuous", "image", ROTATION_RANGE),
    Factor("background_hue", "continuous", "image", HUE_RANGE),
    Factor("spotlight_x", "continuous", "image", (0.0, 1.0)),
    Factor("spotlight_y", "continuous", "image", (0.0, 1.0)),
    Factor("template", "discrete", "text", len(TEMPLATES)),
)}
#: The factors a caption policy may perturb (discrete, stated by the caption).
CAPTION_NOISE_FACTORS = ("shape", "x_position", "y_position")
#: The shared factors a caption can mention (and ``omitted`` can leave out), with their slot.
CAPTION_FACTORS = ("shape", "x_position", "y_position", "hue")
OBJECT_HALF_SIZE = 0.15  # the default half-size of the object, a fraction of the image side
#: The object half-sizes a scene accepts. Below the range a shape covers too few pixels to be told apart, and
#: above it a rotated shape in a corner cell reaches past the border.
OBJECT_HALF_SIZE_RANGE = (0.08, 0.2)


def build_vocabulary() -> tuple[str, ...]:
    """Every word the templates can produce, ``<pad>`` first (id 0)."""
    words = {w for t in TEMPLATES for w in t.split() if not w.startswith("{")}
    words |= set(SHAPES) | set(X_WORDS) | set(Y_WORDS) | set(COLOURS)
    return (PAD,) + tuple(sorted(words))


VOCAB = build_vocabulary()
WORD_ID = {w: i for i, w in enumerate(VOCAB)}
CAPTION_LENGTH = max(len(t.split()) for t in TEMPLATES)


def tokenize(captions, length: int = CAPTION_LENGTH) -> torch.Tensor:
    """Word ids of captions (a string or a list of them), padded with 0 to ``length``."""
    captions = [captions] if isinstance(captions, str) else list(captions)
    out = torch.zeros(len(captions), length, dtype=torch.long)
    for i, text in enumerate(captions):
        words = text.split()
        unknown = [w for w in words if w not in WORD_ID]
        if unknown:
            raise ValueError(f"captions must use the vocabulary (mmcl_edu.scenes.VOCAB); unknown words {unknown}")
        if len(words) > length:
            raise ValueError(f"a caption has {len(words)} words, more than length={length}")
        out[i, :len(words)] = torch.tensor([WORD_ID[w] for w in words], dtype=torch.long)
    return out


def detokenize(ids: torch.Tensor) -> list[str]:
    """Captions as strings from padded word ids (``(N, L)`` or ``(L,)``)."""
    ids = torch.as_tensor(ids)
    ids = ids[None] if ids.ndim == 1 else ids
    return [" ".join(VOCAB[i] for i in row.tolist() if i != 0) for row in ids]


def parse_caption(caption: str) -> dict:
    """The factors a caption states: ``shape``, ``x_position``, ``y_position`` (indices), the
    ``colour`` word and the ``template`` index (inverse of the captioning; chapter 5's exercise)."""
    words = caption.split()
    pick = lambda names: [names.index(w) for w in words if w in names]  # noqa: E731
    found = dict(shape=pick(SHAPES), x_position=pick(X_WORDS), y_position=pick(Y_WORDS),
                 colour=[w for w in words if w in COLOURS])
    if any(len(v) != 1 for v in found.values()):
        raise ValueError(f"caption must name one shape, one column, one row and one colour; got {caption!r}")
    out = {k: v[0] for k, v in found.items()}
    skeleton = " ".join("{%s}" % _slot(w) if _slot(w) else w for w in words)
    if skeleton not in TEMPLATES:
        raise ValueError(f"caption does not follow any of the templates; got {caption!r}")
    out["template"] = TEMPLATES.index(skeleton)
    return out


def _slot(word):
    return ("shape" if word in SHAPES else "x" if word in X_WORDS else "y" if word in Y_WORDS
            else "colour" if word in COLOURS else None)


def hsv_to_rgb(h: torch.Tensor, s, v) -> torch.Tensor:
    """HSV → RGB for tensors of the same shape (or broadcastable); RGB on a new last axis."""
    h, s, v = torch.broadcast_tensors(torch.as_tensor(h), torch.as_tensor(s, dtype=h.dtype, device=h.device),
                                      torch.as_tensor(v, dtype=h.dtype, device=h.device))
    n = torch.tensor([5.0, 3.0, 1.0], device=h.device)
    k = (n + h[..., None] * 6) % 6
    return v[..., None] - v[..., None] * s[..., None] * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def _box(u, v, cu, cv, hu, hv):
    return torch.maximum((u - cu).abs() - hu, (v - cv).abs() - hv)


def shape_distances(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Signed distance-like maps of the 7 shapes at canonical coordinates ``(u, v)`` (object
    half-size 1; negative inside): shape axis first."""
    r = torch.sqrt(u * u + v * v)
    c30, s30 = math.cos(math.pi / 6), 0.5
    tri = torch.maximum(torch.maximum(-v - 0.45, c30 * u + s30 * v - 0.45), -c30 * u + s30 * v - 0.45) * 1.6
    return torch.stack([
        r - 0.9,                                                                        # circle
        _box(u, v, 0, 0, 0.72, 0.72),                                                   # square
        tri,                                                                            # triangle
        torch.minimum(_box(u, v, 0, 0, 0.3, 0.9), _box(u, v, 0, 0, 0.9, 0.3)),          # cross
        (r - 0.62).abs() - 0.3,                                                         # ring
        torch.minimum(_box(u, v, -0.5, 0, 0.35, 0.9), _box(u, v, 0, 0.55, 0.85, 0.35)),  # ell
        torch.minimum(_box(u, v, 0, -0.55, 0.9, 0.35), _box(u, v, 0, 0.2, 0.3, 0.7)),   # tee
    ])


class SceneModel(PairedModel):
    """Image/caption pairs with known factors (see the module docstring).

    Parameters
    ----------
    image_size : int in [16, 256], default 32
    palette_size : int, default 4
        Colour names in each pair's random palette (1 … ``len(COLOURS)``); the caption's colour
        word is the palette's name nearest to the hue.
    hue_depends_on_x : bool, default False
    caption_noise : dict, optional
        ``{factor: p}`` for factors of ``CAPTION_NOISE_FACTORS``: with probability ``p`` the caption
        states a uniformly drawn value instead of the image's (perturbation bias).
    omitted : sequence of str, default ()
        Factors of ``CAPTION_FACTORS`` whose words no caption contains (selection bias): their slot
        is left out of the sentence. At least one factor must stay mentioned, and an omitted
        factor cannot also be in ``caption_noise``.
    templates : sequence of int, optional
        Template indices to draw from (default: all 5).
    object_half_size : float in ``OBJECT_HALF_SIZE_RANGE``, default ``OBJECT_HALF_SIZE``
        Half the object's width, as a fraction of the image side (chapter 5's quick preset draws
        larger objects than chapter 8's, so that a short run tells the seven shapes apart).
    encoder_stride : 1 or 2, default 1
        Stride of the first convolution of the image encoder that :meth:`~mmcl_edu.scenes.SceneModel.make_encoders` builds
        (2: the CNN starts at half the resolution, about three times cheaper per step).
    text_pooling : "mean" or "flatten", default "mean"
        How the caption encoder of :meth:`~mmcl_edu.scenes.SceneModel.make_encoders` pools over the words
        (:class:`~mmcl_edu.encoders.TextEncoder`; "flatten" as in the paper's text encoder).
    device : None, str or torch.device
    """

    blocks = tuple(FACTORS)

    def __init__(self, image_size: int = 32, palette_size: int = 4, hue_depends_on_x: bool = False,
                 caption_noise: dict | None = None, templates=None, seed: int = 0, device=None,
                 omitted=(), object_half_size: float = OBJECT_HALF_SIZE, encoder_stride: int = 1,
                 text_pooling: str = "mean"):
        self.object_half_size = check_float("object_half_size", object_half_size, *OBJECT_HALF_SIZE_RANGE)
        self.encoder_stride = check_choice("encoder_stride", encoder_stride, (1, 2))
        from .encoders import TEXT_POOLINGS
        self.text_pooling = check_choice("text_pooling", text_pooling, TEXT_POOLINGS)
        self.image_size = check_int("image_size", image_size, 16)
        if image_size > 256:
            raise ValueError(f"image_size must be an integer in [16, 256]; got {image_size}")
        self.palette_size = check_int("palette_size", palette_size, 1)
        if palette_size > len(COLOURS):
            raise ValueError(f"palette_size must be an integer in [1, {len(COLOURS)}] (the colour names); "
                             f"got {palette_size}")
        self.hue_depends_on_x = bool(hue_depends_on_x)
        self.caption_noise = {}
        for name, p in (caption_noise or {}).items():
            check_choice("caption_noise (factor)", name, CAPTION_NOISE_FACTORS)
            self.caption_noise[name] = check_float(f"caption_noise[{name!r}]", p, 0.0, 1.0)
        if isinstance(omitted, str):
            omitted = (omitted,)
        for name in omitted:
            check_choice("omitted (each)", name, CAPTION_FACTORS)
        self.omitted = tuple(n for n in CAPTION_FACTORS if n in set(omitted))
        if len(self.omitted) != len(tuple(omitted)):
            raise ValueError(f"omitted must not repeat a factor; got {tuple(omitted)}")
        if len(self.omitted) == len(CAPTION_FACTORS):
            raise ValueError(f"omitted must leave at least one of {CAPTION_FACTORS} in the captions")
        both = sorted(set(self.omitted) & set(self.caption_noise))
        if both:
            raise ValueError(f"a factor cannot be both omitted and in caption_noise (perturbed); got {both}")
        templates = tuple(range(len(TEMPLATES))) if templates is None else tuple(templates)
        if not templates:
            raise ValueError(f"templates must name at least one of {tuple(range(len(TEMPLATES)))}")
        for t in templates:
            check_choice("templates (each)", t, range(len(TEMPLATES)))
        self.templates = templates
        self.seed = check_int("seed", seed, 0)
        self.device = resolve_device(device)
        self.colour_hues = torch.tensor(list(COLOURS.values()), device=self.device)
        self.colour_ids = torch.tensor([WORD_ID[w] for w in COLOURS], device=self.device)
        self._build_caption_patterns()

    # ---- API the trainer and the evaluation use
    factors = FACTORS

    @property
    def discrete_factors(self) -> dict:
        return {n: f.values for n, f in FACTORS.items() if f.kind == "discrete"}

    @property
    def observation_dims(self) -> tuple[int, int]:
        return (3 * self.image_size ** 2, CAPTION_LENGTH)

    def make_encoders(self, out_dim: int, config):
        """The image CNN and the caption ConvNet (``mmcl_edu.encoders``), widths from ``config.hidden``."""
        from .encoders import make_scene_encoders
        return make_scene_encoders(self.image_size, len(VOCAB), out_dim, config.hidden, config.activation,
                                   config.normalize, first_stride=self.encoder_stride,
                                   text_pooling=self.text_pooling, caption_length=CAPTION_LENGTH)

    def to(self, device):
        super().to(device)
        self._build_caption_patterns()
        return self

    # ---- sampling
    def draw_factors(self, n: int, g: torch.Generator) -> dict:
        """The factors of ``n`` pairs (each ``(n, 1)``; long for discrete, float for continuous)."""
        dev = self.device
        u = lambda: torch.rand(n, 1, generator=g, device=dev)  # noqa: E731
        ints = lambda k: torch.randint(0, k, (n, 1), generator=g, device=dev)  # noqa: E731
        f = dict(shape=ints(len(SHAPES)), x_position=ints(3), y_position=ints(3))
        lo, hi = HUE_RANGE
        f["hue"] = lo + (hi - lo) * ((f["x_position"] + u()) / 3 if self.hue_depends_on_x else u())
        f["rotation"] = ROTATION_RANGE[0] + (ROTATION_RANGE[1] - ROTATION_RANGE[0]) * u()
        f["background_hue"] = lo + (hi - lo) * u()
        f["spotlight_x"], f["spotlight_y"] = u(), u()
        t = torch.tensor(self.templates, device=dev)
        f["template"] = t[torch.randint(0, len(t), (n, 1), generator=g, device=dev)]
        return f

    def render(self, factors: dict) -> torch.Tensor:
        """Images ``(N, 3, S, S)`` in [0, 1] from factors (vectorised; no loop over images)."""
        S, dev = self.image_size, self.device
        n = factors["shape"].shape[0]
        half = self.object_half_size
        # The object only covers a patch around its grid cell: compute the shape there (P × P pixels,
        # a tenth of the image) and paste it, instead of 7 distance maps over the whole image.
        reach = half * 1.3                       # the farthest a rotated shape reaches, image units
        P = min(S, math.ceil(2 * reach * S) + 2)
        cx = 0.2 + 0.3 * factors["x_position"].float().view(-1)
        cy = 0.2 + 0.3 * factors["y_position"].float().view(-1)
        x0 = ((cx - reach) * S).floor().long().clamp(0, S - P)
        y0 = ((cy - reach) * S).floor().long().clamp(0, S - P)
        offs = torch.arange(P, device=dev)
        rows, cols = y0.view(-1, 1) + offs, x0.view(-1, 1) + offs           # (N, P) pixel indices
        py = ((rows.float() + 0.5) / S).view(n, P, 1)
        px = ((cols.float() + 0.5) / S).view(n, 1, P)
        a = factors["rotation"].view(-1, 1, 1)
        dx, dy = (px - cx.view(-1, 1, 1)) / half, (py - cy.view(-1, 1, 1)) / half
        u = torch.cos(a) * dx + torch.sin(a) * dy   # rotate the pixel grid by -a: the object by +a
        v = torch.sin(a) * dx - torch.cos(a) * dy   # (minus: image rows grow downwards, shapes are drawn upwards)
        dist = shape_distances(u, v)                                      # (7, N, P, P)
        dist = dist.gather(0, factors["shape"].view(1, -1, 1, 1).expand(1, -1, P, P))[0]
        patch = torch.sigmoid(-dist * half * S * 2.0)                     # about one pixel of soft edge
        alpha = torch.zeros(n, S, S, device=dev)
        alpha[torch.arange(n, device=dev).view(-1, 1, 1), rows.view(n, P, 1), cols.view(n, 1, P)] = patch
        alpha = alpha[..., None]
        grid = (torch.arange(S, device=dev, dtype=torch.float32) + 0.5) / S
        py, px = grid.view(1, S, 1), grid.view(1, 1, S)
        obj = hsv_to_rgb(factors["hue"].view(-1, 1, 1), 0.85, 1.0)        # (N, 1, 1, 3)
        bg = hsv_to_rgb(factors["background_hue"].view(-1, 1, 1), 0.45, 0.5)
        d2 = (px - factors["spotlight_x"].view(-1, 1, 1)) ** 2 + (py - factors["spotlight_y"].view(-1, 1, 1)) ** 2
        light = (0.45 + 0.75 * torch.exp(-d2 / (2 * 0.3 ** 2)))[..., None]
        img = (alpha * obj + (1 - alpha) * bg) * light
        return img.clamp(0, 1).permute(0, 3, 1, 2).contiguous()

    def colour_words(self, hue: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Index into ``COLOURS`` of the nearest name in a random palette of ``palette_size`` names
        per pair (many-to-one and stochastic)."""
        n, k = hue.shape[0], len(COLOURS)
        keys = torch.rand(n, k, generator=g, device=self.device)
        in_palette = keys.argsort(1).argsort(1) < self.palette_size
        dist = (hue.view(-1, 1) - self.colour_hues.view(1, -1)).abs()
        return dist.masked_fill(~in_palette, float("inf")).argmin(1, keepdim=True)

    def _build_caption_patterns(self):
        slots = {"{shape}": 1, "{x}": 2, "{y}": 3, "{colour}": 4}
        ids = torch.zeros(len(TEMPLATES), CAPTION_LENGTH, dtype=torch.long)
        kind = torch.zeros_like(ids)
        for t, text in enumerate(TEMPLATES):
            for j, w in enumerate(text.split()):
                kind[t, j] = slots.get(w, 0)
                ids[t, j] = 0 if w in slots else WORD_ID[w]
        self._pattern_ids, self._pattern_kind = ids.to(self.device), kind.to(self.device)
        self._shape_ids = torch.tensor([WORD_ID[w] for w in SHAPES], device=self.device)
        self._x_ids = torch.tensor([WORD_ID[w] for w in X_WORDS], device=self.device)
        self._y_ids = torch.tensor([WORD_ID[w] for w in Y_WORDS], device=self.device)

    def caption_ids(self, caption_factors: dict) -> torch.Tensor:
        """Padded word ids ``(N, CAPTION_LENGTH)`` from the caption's factors (``shape``,
        ``x_position``, ``y_position``, ``colour`` index into COLOURS, ``template``); the slots of
        ``omitted`` factors are left out (words after them move up, padding stays at the end)."""
        t = caption_factors["template"].view(-1)
        ids, kind = self._pattern_ids[t], self._pattern_kind[t]
        for k, table, name, factor in ((1, self._shape_ids, "shape", "shape"), (2, self._x_ids, "x_position", "x_position"),
                                       (3, self._y_ids, "y_position", "y_position"), (4, self.colour_ids, "colour", "hue")):
            if factor in self.omitted:  # selection bias: the slot stays empty, and the sentence closes up
                ids = torch.where(kind == k, torch.zeros_like(ids), ids)
            else:
                ids = torch.where(kind == k, table[caption_factors[name].view(-1, 1)], ids)
        if self.omitted:
            ids = ids.gather(1, (ids == 0).long().argsort(dim=1, stable=True))
        return ids

    def _sample_latents(self, n, g):
        f = self.draw_factors(n, g)
        cap = {"template": f["template"], "colour": self.colour_words(f["hue"], g)}
        for name in CAPTION_NOISE_FACTORS:
            value = f[name]
            p = self.caption_noise.get(name, 0.0)
            if p > 0:
                flip = torch.rand(n, 1, generator=g, device=self.device) < p
                other = torch.randint(0, FACTORS[name].values, (n, 1), generator=g, device=self.device)
                value = torch.where(flip, other, value)
            cap[name] = value
        latents = dict(f)
        latents.update({f"caption_{k}": v for k, v in cap.items()
                        if k != "template" and (k if k != "colour" else "hue") not in self.omitted})
        return latents, self.render(f), self.caption_ids(cap)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, generator: torch.Generator | None = None) -> PairedBatch:
        """``n`` pairs: ``x1`` images ``(n, 3, S, S)``, ``x2`` word ids ``(n, CAPTION_LENGTH)``,
        ``latents`` every factor (and the caption's values, ``caption_*``). Same seed, same pairs."""
        check_int("n", n, 1)
        if generator is None:
            generator = self._make_generator(0 if seed is None else check_int("seed", seed, 0))
        latents, images, ids = self._sample_latents(n, generator)
        return PairedBatch(images, ids, latents)

    def captions(self, batch: PairedBatch) -> list[str]:
        """The captions of a batch as strings (for display)."""
        return detokenize(batch.x2.cpu())

    def __repr__(self):
        return (f"SceneModel(image_size={self.image_size}, palette_size={self.palette_size}, "
                f"hue_depends_on_x={self.hue_depends_on_x}, caption_noise={self.caption_noise}, "
                f"templates={self.templates}, " + (f"omitted={self.omitted}, " if self.omitted else "")
                + (f"object_half_size={self.object_half_size}, " if self.object_half_size != OBJECT_HALF_SIZE else "")
                + (f"encoder_stride={self.encoder_stride}, " if self.encoder_stride != 1 else "")
                + (f"text_pooling={self.text_pooling!r}, " if self.text_pooling != "mean" else "")
                + f"seed={self.seed}, device='{self.device}')")


def colour_word_oracle(source, n: int = 4000, seed: int = 5) -> float:
    """``R²(hue | colour word)``: how much of the object's hue the caption's colour word tells, the most of
    the hue any caption encoding can carry. A linear regression from the one-hot word to the hue
    (:func:`~mmcl_edu.evaluation.predictability`) on ``n`` pairs drawn with ``seed`` from ``source``
    (a :class:`SceneModel`, or anything whose ``sample(n, seed=...)`` gives the scene latents)."""
    from .evaluation import predictability

    batch = source.sample(check_int("n", n, 20), seed=seed)
    word = torch.nn.functional.one_hot(batch.latents["caption_colour"].view(-1), len(COLOURS)).float()
    return predictability(word, batch.latents["hue"], "linear")


def plot_pairs(batch: PairedBatch, n: int = 8, ncols: int = 4, start: int = 0, highlight: int | None = None):
    """Images of a batch with their captions underneath (``n`` pairs from ``start``)."""
    import matplotlib.pyplot as plt

    n = min(check_int("n", n, 1), len(batch) - start)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.9 * nrows), squeeze=False)
    captions = detokenize(batch.x2[start:start + n].cpu())
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        ax.imshow(batch.x1[start + k].permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
        words = captions[k].split()
        half = (len(words) + 1) // 2
        ax.set_title(" ".join(words[:half]) + "\n" + " ".join(words[half:]), fontsize=8,
                     color="crimson" if highlight == start + k else "black")
    fig.tight_layout()
    return fig
