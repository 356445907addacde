"""Named configurations for the chapters, each in two sizes.

``preset(name)`` returns the **quick** size — tuned to run in a minute or two on a 2-core CPU
while reaching the results the chapter asserts — unless the size is asked for explicitly,
``preset(name, size="full")``, or through the environment variable ``MMCL_EDU_SIZE=full``
(the argument wins). **full** is the papers' scale (their encoder, batch and step count): meant
for a GPU, e.g. a Colab GPU runtime.

**smoke** is derived from quick by one rule for every preset (:func:`smoke_of`): a few tens of
training steps and at most a few hundred evaluation samples. It proves nothing about the science;
it only lets the student notebooks (with their exercise stubs) run top to bottom in seconds, in the
test ``tests_site/test_student_runall.py`` (``MMCL_EDU_SIZE=smoke``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ._validation import check_choice
from .encoders import PAPER_HIDDEN
from .training import TrainConfig

SIZES = ("quick", "full", "smoke")
SMOKE_STEPS = 30  # training steps of every smoke run
SMOKE_SAMPLES = 400  # upper bound of every evaluation sample count (eval arguments named n_*)
SIZE_ENV = "MMCL_EDU_SIZE"


@dataclass(frozen=True)
class Preset:
    """A chapter's configuration: model arguments, training config, evaluation arguments, seeds."""

    name: str
    size: str
    model: dict
    train: TrainConfig
    eval: dict = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    description: str = ""

    @property
    def is_full(self) -> bool:
        return self.size == "full"


def resolve_size(size: str | None = None) -> str:
    """``size`` if given, else ``$MMCL_EDU_SIZE``, else ``"quick"``."""
    if size is None:
        size = os.environ.get(SIZE_ENV, "").strip().lower() or "quick"
        if size not in SIZES:
            raise ValueError(f"the environment variable {SIZE_ENV} must be one of {SIZES}; got {size!r}")
    return check_choice("size", size, SIZES)


# Quick Daunhawer setting, tuned on a 2-core CPU (see benchmarks/bench_training.py): a narrower,
# shallower encoder than the paper's, the CLIP form of the loss (cross-modal negatives), a fixed
# whitening of the encoders' inputs (an invertible linear map: 0.67 -> 0.95 content R² after 8000
# steps on the same budget) and a large learning rate (1e-2 with warm-up and cosine decay: 0.72 at
# 3e-3 vs 0.96 at 1e-2 after 4000 steps). Two hidden layers of 256 reach the content R² of three
# (0.96 at p_change = 0.75) in 19 s instead of 33 s; batch 256 or 2500 steps lose 0.03-0.05.
_DAUNHAWER_QUICK = TrainConfig(steps=4000, batch_size=512, lr=1e-2, lr_schedule="cosine", warmup_steps=100,
                               hidden=(256, 256), negatives="cross", whiten_inputs=True)
_DAUNHAWER_FULL = TrainConfig(steps=300_000, batch_size=6144, lr=1e-4, lr_schedule="constant",
                              hidden=PAPER_HIDDEN, negatives="intra", log_every=500)
_CAI_QUICK = TrainConfig(steps=1500, batch_size=512, lr=2e-3, lr_schedule="cosine", warmup_steps=50,
                         hidden=(256, 256, 256), negatives="cross")
_CAI_FULL = TrainConfig(steps=100_000, batch_size=6144, lr=1e-4, lr_schedule="constant",
                        hidden=PAPER_HIDDEN, negatives="intra", log_every=500)

# Quick sweeps of chapter 7 (tuned with one CPU thread): a small encoder and many cheap steps beat a wide
# encoder and few steps; 3000 steps reach R² ≥ 0.9 on identified semantics for 5 semantics.
_CAI_SWEEP_QUICK = TrainConfig(steps=3000, batch_size=256, lr=4e-3, lr_schedule="cosine", warmup_steps=50,
                               hidden=(128, 128), negatives="cross", log_every=50)

_PRESETS = {
    "daunhawer": dict(
        description="Daunhawer et al. (2023), numerical experiment: 5-d content, style and modality-specific "
                    "latents, p_change = 0.75, independent blocks, distinct mixing functions.",
        model=dict(content_dim=5, style_dim=5, specific_dim=5, p_change=0.75, dependence="independent",
                   mixing="distinct"),
        quick=dict(train=_DAUNHAWER_QUICK, eval=dict(n_fit=2000, n_test=2000), seeds=(0,)),
        full=dict(train=_DAUNHAWER_FULL, eval=dict(n_fit=5000, n_test=5000), seeds=(0, 1, 2)),
    ),
    "cai": dict(
        description="Cai et al. (2025), numerical experiment: 10 semantics, 5-d image- and text-specific "
                    "latents, captions keeping I_θ and perturbing I_ρ.",
        model=dict(n_semantics=10, selected=None, perturbed=(), specific_dim=5, dependence="independent"),
        quick=dict(train=_CAI_QUICK, eval=dict(n_fit=2000, n_test=2000), seeds=(0,)),
        full=dict(train=_CAI_FULL, eval=dict(n_fit=5000, n_test=5000), seeds=(0, 1, 2)),
    ),
    "cai_sweep": dict(
        description="Cai et al. (2025), the sweeps of the numerical experiment (chapter 7). Full: the paper's "
                    "10 semantics, 5-d m_1, m_2 and training. Quick: 5 semantics, 2-d m_1, m_2, a small encoder "
                    "(two hidden layers of 128), batch 256, lr 4e-3 with cosine decay, 3000 steps: about 6 s of "
                    "one CPU thread per setting, enough to separate selection and perturbation at p_perturb = 0.75.",
        model=dict(n_semantics=10, selected=None, perturbed=(), specific_dim=5, dependence="independent",
                   p_perturb=0.75),
        quick=dict(model=dict(n_semantics=5, specific_dim=2), train=_CAI_SWEEP_QUICK,
                   eval=dict(n_fit=2000, n_test=2000, regressors=("linear",), per_dimension=True), seeds=(0,)),
        full=dict(train=_CAI_FULL, eval=dict(n_fit=5000, n_test=5000, regressors=("linear", "nonlinear"),
                                             per_dimension=True), seeds=(0, 1, 2)),
    ),
}


def available_presets() -> tuple[str, ...]:
    return tuple(_PRESETS)


def preset(name: str, size: str | None = None) -> Preset:
    """The configuration ``name`` (see :func:`available_presets`) in the given size.

    >>> cfg = preset("daunhawer")            # quick, unless MMCL_EDU_SIZE=full
    >>> cfg = preset("daunhawer", "full")    # paper scale (use a GPU)
    """
    check_choice("name", name, _PRESETS)
    size = resolve_size(size)
    spec = _PRESETS[name]
    sized = dict(smoke_of(spec["quick"]) if size == "smoke" else spec[size])  # a size may change some model arguments ("cai_sweep": fewer semantics when quick)
    model = {**spec["model"], **sized.pop("model", {})}
    return Preset(name=name, size=size, model=model, description=spec["description"], **sized)



def _shrink(value, key: str = ""):
    """``value`` cut to smoke size: TrainConfigs and ``steps`` to :data:`SMOKE_STEPS` (warm-up and
    logging scaled to fit), integers under a key ``n_*`` to :data:`SMOKE_SAMPLES` (``n_cv``, the
    probes' grid-search rows, to half of it); dicts recursively, except the model arguments."""
    if isinstance(value, TrainConfig):
        steps = min(value.steps, SMOKE_STEPS)
        return value.replace(steps=steps, warmup_steps=min(value.warmup_steps, steps // 3),
                             log_every=max(1, min(value.log_every, steps // 3)))
    if isinstance(value, dict):
        if key == "model":
            return dict(value)
        return {k: _shrink(v, k) for k, v in value.items()}
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    if key == "steps":
        return min(value, SMOKE_STEPS)
    if key in ("warmup_steps", "log_every"):
        return max(1 if key == "log_every" else 0, min(value, SMOKE_STEPS // 3))
    if key.startswith("n_"):
        return min(value, SMOKE_SAMPLES // 2 if key == "n_cv" else SMOKE_SAMPLES)
    return value


def smoke_of(quick: dict) -> dict:
    """The smoke size of a preset (or of a chapter's own table entry keyed by size) from its quick
    entry: at most :data:`SMOKE_STEPS` training steps, every integer evaluation argument named
    ``n_*`` capped at :data:`SMOKE_SAMPLES`, one seed; the model arguments are kept."""
    smoke = _shrink(quick)
    if "seeds" in smoke:
        smoke["seeds"] = tuple(smoke["seeds"])[:1]
    return smoke


def size_entry(table: dict, size) -> dict:
    """A chapter's own size table (a dict keyed by ``"quick"`` and ``"full"``) read at ``size`` (a
    size name or anything with a ``.size``, e.g. a :class:`Preset`); the smoke size is derived from
    the quick entry by :func:`smoke_of`, so that no table needs a smoke entry of its own."""
    size = check_choice("size", getattr(size, "size", size), SIZES)
    return smoke_of(table["quick"]) if size == "smoke" else table[size]
