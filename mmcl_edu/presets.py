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

import dataclasses
import os
from dataclasses import dataclass, field

from ._validation import check_choice
from .encoders import PAPER_HIDDEN
from .training import TrainConfig

SIZES = ("quick", "full", "smoke")
#: Training steps of every smoke run.
SMOKE_STEPS = 30
#: Upper bound of every evaluation sample count of a smoke run (eval arguments named ``n_*``).
SMOKE_SAMPLES = 400
SIZE_ENV = "MMCL_EDU_SIZE"
#: The generative models a preset's ``model`` arguments can parametrise: ``content_style``
#: (:class:`~mmcl_edu.latents.ContentStyleModel`), ``misalignment`` (:class:`~mmcl_edu.misalignment.MisalignmentModel`),
#: ``scenes`` (:class:`~mmcl_edu.scenes.SceneModel`), all three built by :func:`mmcl_edu.experiments.build_model`;
#: ``information_gap`` (:func:`mmcl_edu.latent_structures.build_data`) and ``augmented_scenes``
#: (:func:`mmcl_edu.closing_ablation.build_scenes`), built by their chapters' modules.
DATA = ("content_style", "misalignment", "scenes", "information_gap", "augmented_scenes")


@dataclass(frozen=True)
class Preset:
    """A chapter's configuration, one shape for every chapter: the generative model's arguments (``model``)
    and which model they are for (``data``, one of :data:`DATA`), the training config (``train``; ``None``
    for a chapter that trains no encoders), the evaluation arguments (``eval``), the seeds, and
    ``chapter``: the chapter's own sizes, sweeps and grids by name (sample counts, encoding sizes, λ grids,
    caption policies), so that no chapter module holds a size of its own."""

    name: str
    size: str
    model: dict
    data: str | None = None  # which generative model ``model`` parametrises (one of DATA), None: none
    train: TrainConfig | None = None
    eval: dict = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    description: str = ""
    chapter: dict = field(default_factory=dict)  # the chapter's own sizes and sweeps (e.g. "encoding_dims")

    def __post_init__(self):
        if self.data is not None:
            check_choice("data", self.data, DATA)

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
# (0.96 at p_change = 0.75) in 19 s instead of 33 s; batch 256 or 2500 steps lose 0.03-0.05, and 3500 steps
# leave the causal setting at 0.89 (below the chapter's 0.9).
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

# Chapter 11 (Jiang et al. 2023) on latent-variable data: cosine codes at a fixed temperature 0.1, two
# heads per encoder (shared and independent, both encoding_dim = 16 wide: TwoHeadFactory), four views per pair
# (image, text, and their augmentations).
_JIANG_QUICK = TrainConfig(steps=800, batch_size=256, lr=3e-3, lr_schedule="cosine", warmup_steps=50,
                           hidden=(128, 128), encoding_dim=16, similarity="cosine", temperature=0.1,
                           whiten_inputs=True, log_every=50)
_JIANG_FULL = _JIANG_QUICK.replace(steps=20_000, batch_size=1024, hidden=(512, 512, 512), lr=1e-3,
                                   warmup_steps=500, log_every=250)
# Chapter 5 (image/caption pairs, mmcl_edu.scenes), tuned on one CPU thread (issue 24). In a short run the
# encoders learn one more shared factor after the positions, the shape or the hue, and which one varies with
# the seed: the earlier quick run (the three-layer encoder below, 400 steps of batch 128, objects of half-size
# 0.15) left the shape at 0.2–0.9 by seed. Larger objects (0.2, in the preset's model), a four-layer CNN that
# starts at stride 2 (about three times cheaper per step) and 1600 steps of batch 64 learn the shape on most
# seeds (three-seed means at size 8: 0.56–0.89 from the image over three draws) and leave the hue to a longer
# run. Full: 64 × 64 images, wider and deeper encoders, 20,000 steps, three seeds, the finer encoding-size grid
# of the paper's Figure 3.
_SCENES_QUICK = TrainConfig(steps=1600, batch_size=64, lr=5e-3, lr_schedule="cosine", warmup_steps=20,
                            hidden=(16, 32, 32, 32), similarity="cosine", temperature=0.1, negatives="cross",
                            grad_clip=None, log_every=50)
# The earlier chapter-5 quick run, which chapters 8 and 12 build on (three layers of widths 16, 32, 32).
_SCENES_QUICK_3LAYER = TrainConfig(steps=400, batch_size=128, lr=5e-3, lr_schedule="cosine", warmup_steps=20,
                                   hidden=(16, 32, 32), similarity="cosine", temperature=0.1, negatives="cross",
                                   grad_clip=None, log_every=25)
_SCENES_FULL = TrainConfig(steps=20_000, batch_size=256, lr=1e-3, lr_schedule="cosine", warmup_steps=500,
                           hidden=(32, 64, 128, 256), similarity="cosine", temperature=0.1, negatives="cross",
                           grad_clip=None, log_every=200)
# Chapter 8 (misaligned captions on chapter 5's scenes). Quick: 24 × 24 images and batch 64 make a step about
# three times cheaper than chapter 5's, so 2000 steps fit the budget; tuned on one CPU thread: at 400 steps of
# batch 128 an omitted or perturbed position is still well above chance from the image (0.6–0.8 accuracy, chance
# 1/3), after 2000 steps of batch 64 it is within 0.05 of chance. The dependence run needs no slow exclusion
# (an omitted hue leaves at once): 1200 steps ("lesson_steps"). Full: chapter 5's full encoders and images.
_CAPTIONS_QUICK = _SCENES_QUICK_3LAYER.replace(steps=2000, batch_size=64, encoding_dim=8, log_every=50)
_CAPTIONS_FULL = _SCENES_FULL.replace(encoding_dim=8)
# The grid: complete captions, one factor omitted, one perturbed, one omitted and one perturbed. (Omitting y and
# perturbing x leaves only shape and hue, the two hardest factors, to align: in the quick run the encoders then
# fell back on the spotlight and the template; omitting the hue and perturbing x keeps y, which aligns at once.)
_CAPTION_POLICIES = (dict(), dict(omitted=("y_position",)), dict(perturbed=("x_position",)),
                     dict(omitted=("hue",), perturbed=("x_position",)))
# Chapter 3's short run: smaller than the quick preset (two hidden layers of 128, batch 256, 1200 steps,
# about 10 s on 2 cores), long enough to show content rising and m_1 falling.
_DAUNHAWER_SHORT_QUICK = _DAUNHAWER_QUICK.replace(steps=1200, batch_size=256, hidden=(128, 128), warmup_steps=50)
# Chapter 9's encoders (tuned on a 2-core CPU): three policies of 6 semantics in about a minute.
_CAI_DOWNSTREAM_QUICK = _CAI_QUICK.replace(steps=2500, lr=4e-3, hidden=(192, 192))

# Chapter 12 (Jiang et al. 2023 on image/caption pairs): chapter 5's encoders with two heads, four views per pair.
# Quick: 24 × 24 images, widths 16, 32, 32, batch 96, 300 steps (12 runs fit the notebook's budget on 2 cores);
# full: 64 × 64 images, chapter 5's full encoders and schedule, three seeds. The weights were picked in a small
# preliminary sweep of the quick run (seed 0, zero-shot top-1 of L_Con 0.59): λ_Br ∈ {1, 0.2, 0.05} gave 0.14, 0.21,
# 0.35 (every weight hurt; the smallest is kept); λ_Sep 0.3 0.58 (1.0: 0.36); λ_GC 0.005 0.64 (0.05: 0.34); CyCLIP at
# 0.25 and 0.02 gave 0.15 and 0.39, so it gets λ_GC's weight (it is L_GC without L^a_GC).
# Chapter 12: chapter 5's quick encoders with a shared code of 6 dimensions, enough for the shared content (shape,
# positions, hue) but not for the background too, so that what the image alone shows has to go elsewhere.
# Calibration (900 steps, λ_Sep 0.1 batch form, CLIP vs + L_Sep): with chapter 5's objects (half-size 0.2) the gain
# of + L_Sep on the tone from z^i is positive at each of seeds 0-5 (+0.03 to +0.24, mean 0.144 ± 0.032 SE), on
# [z; z^i] likewise (+0.04 to +0.31, mean 0.129 ± 0.042); with the default objects (0.15) it changed sign between
# seeds (seeds 0-2 on [z; z^i]: +0.07, -0.12, +0.42), and the baseline's zero-shot top-1 fell to chance at seed 5.
# With the default objects, lr 2e-3 learned the shape less (zero-shot 0.19-0.49), λ_Sep 0.3 left z^i's tone at the
# control's level and 1.0 stopped the shape from being learned (calibration runs on the test pairs; the chapter's weights come from
# the sweeps on validation pairs, benchmarks/record_closing_ablation.py). Cost: about 33 s per run of 900 steps on one
# core of a 136 steps/s machine, so the chapter trains 2 objectives x 3 seeds (about 110 s on 2 cores) and shows the
# 24 sweep runs and the other objectives as recorded; a first 3-point grid put λ_GC on its edge, hence 4 points.
_JIANG_SCENES_QUICK = _SCENES_QUICK.replace(steps=900, encoding_dim=6)
_JIANG_SCENES_FULL = _SCENES_FULL.replace(encoding_dim=8)
# Chapters 10 and 11 (Jiang et al. 2023): one paired-data model with an information gap (16 content classes,
# 4 image-only classes from m_1[0]); see mmcl_edu.latent_structures.AugmentedPairs.
_JIANG_MODEL = dict(content_dim=4, style_dim=2, specific_dim=2, p_change=1.0, dependence="independent",
                    mixing="distinct", class_dims=2, bins=4, image_bins=4)
# Chapter 4's quick evaluation of its eight configurations, capped (the kernel-ridge grid search dominates the
# evaluation time and grows with the cube of its sample, ``n_cv`` rows of the ``n_fit``; ``n_test`` only costs
# predictions): see mmcl_edu.numerical_simulations.chapter_eval.
_CH04_QUICK_EVAL_CAP = dict(n_fit=600, n_test=1000, n_cv=300)
# Chapter 7's quick sweeps: a representative subset of each sweep (labels of the sweeps at n = 5), see
# mmcl_edu.misalignment_simulations.chapter_settings; the full size runs every setting.
_CH07_QUICK_LABELS = dict(selection=("I_θ = [2]", "I_θ = [4]"), perturbation=("I_ρ = {1}", "I_ρ = [2]"))
# Chapter 2 only samples from the model: pairs for the shapes, for the dependence check, for the mixing gap.
_CH02_SAMPLES = dict(n_samples=20_000, n_dependence=10_000, n_mixing=2000)

_PRESETS = {
    "daunhawer": dict(
        data="content_style",
        description="Daunhawer et al. (2023), numerical experiment: 5-d content, style and modality-specific "
                    "latents, p_change = 0.75, independent blocks, distinct mixing functions.",
        model=dict(content_dim=5, style_dim=5, specific_dim=5, p_change=0.75, dependence="independent",
                   mixing="distinct"),
        quick=dict(train=_DAUNHAWER_QUICK, eval=dict(n_fit=2000, n_test=2000), seeds=(0,),
                   chapter=dict(_CH02_SAMPLES, eval_cap=_CH04_QUICK_EVAL_CAP)),
        full=dict(train=_DAUNHAWER_FULL, eval=dict(n_fit=5000, n_test=5000), seeds=(0, 1, 2), chapter=_CH02_SAMPLES),
    ),
    "daunhawer_ablation": dict(
        data="content_style",
        description="Daunhawer et al. (2023), chapter 4's encoding-size ablation (d = 3, 7): the daunhawer "
                    "setting; quick: 2500 steps (content R² of d = 3 and d = 7 settle by then; saves the "
                    "chapter's time budget); full: the paper's training.",
        model=dict(content_dim=5, style_dim=5, specific_dim=5, p_change=0.75, dependence="independent",
                   mixing="distinct"),
        quick=dict(train=dataclasses.replace(_DAUNHAWER_QUICK, steps=2500), eval=dict(n_fit=2000, n_test=2000),
                   seeds=(0,), chapter=dict(eval_cap=_CH04_QUICK_EVAL_CAP)),
        full=dict(train=_DAUNHAWER_FULL, eval=dict(n_fit=5000, n_test=5000), seeds=(0, 1, 2)),
    ),
    "sphere_toy": dict(
        description="Chapter 1: free embeddings on the sphere S^2 (and the circle S^1 for the temperature sweep), "
                    "trained with Adam on the symmetric InfoNCE loss; no encoders, so no TrainConfig.",
        model=dict(),
        quick=dict(chapter=dict(n=256, steps=400, sweep_taus=(0.05, 0.2, 1.0, 10.0), sweep_n=128, sweep_steps=400,
                              large_batch_sizes=(16, 64, 256, 1024), large_batch_ref=4096,
                              mi_batch_size=128, mi_batches=200)),
        full=dict(chapter=dict(n=1024, steps=1500, sweep_taus=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
                             sweep_n=512, sweep_steps=1500, large_batch_sizes=(16, 64, 256, 1024, 4096),
                             large_batch_ref=16384, mi_batch_size=128, mi_batches=1000)),
    ),
    "daunhawer_short": dict(
        data="content_style",
        description="Chapter 3's short training run on the Daunhawer setting: linear R² of c, s, m_1 recorded six "
                    "times during training. Quick: a small encoder, 1200 steps; full: the paper's training.",
        model=dict(content_dim=5, style_dim=5, specific_dim=5, p_change=0.75, dependence="independent",
                   mixing="distinct"),
        quick=dict(train=_DAUNHAWER_SHORT_QUICK, eval=dict(n_fit=1000, n_test=1000),
                   chapter=dict(r2_records=6, n_samples=4000, n_samples_2d=2000)),
        full=dict(train=_DAUNHAWER_FULL, eval=dict(n_fit=5000, n_test=5000),
                  chapter=dict(r2_records=6, n_samples=4000, n_samples_2d=2000)),
    ),
    "cai": dict(
        data="misalignment",
        description="Cai et al. (2025), numerical experiment: 10 semantics, 5-d image- and text-specific "
                    "latents, captions keeping I_θ and perturbing I_ρ.",
        model=dict(n_semantics=10, selected=None, perturbed=(), specific_dim=5, dependence="independent"),
        quick=dict(train=_CAI_QUICK, eval=dict(n_fit=2000, n_test=2000), seeds=(0,)),
        full=dict(train=_CAI_FULL, eval=dict(n_fit=5000, n_test=5000), seeds=(0, 1, 2)),
    ),
    "cai_small": dict(
        data="misalignment",
        description="Cai et al. (2025), chapter 6's small trained example. Quick: 5 semantics, captions mention "
                    "c_1..c_4 and perturb c_1 with p_perturb = 0.75, 2-d m_1, m_2, a small encoder (two hidden "
                    "layers of 128), batch 256, 2000 steps. Full: the paper's joint experiment I_θ = [8], "
                    "I_ρ = [2] with its training.",
        model=dict(n_semantics=10, selected=tuple(range(8)), perturbed=(0, 1), specific_dim=5,
                   dependence="independent", p_perturb=0.75),
        quick=dict(model=dict(n_semantics=5, selected=(0, 1, 2, 3), perturbed=(0,), specific_dim=2),
                   train=dataclasses.replace(_CAI_QUICK, steps=2000, batch_size=256, lr=4e-3, hidden=(128, 128)),
                   eval=dict(n_fit=2000, n_test=2000, regressors=("linear",), per_dimension=True), seeds=(0,),
                   chapter=dict(extras_seeds=(0, 1, 2))),   # one draw of the joint policy is not enough (chapter 7)
        full=dict(train=_CAI_FULL, eval=dict(n_fit=5000, n_test=5000, regressors=("linear", "nonlinear"),
                                             per_dimension=True), seeds=(0, 1, 2), chapter=dict(extras_seeds=(0, 1, 2))),
    ),
    "cai_sweep": dict(
        data="misalignment",
        description="Cai et al. (2025), the sweeps of the numerical experiment (chapter 7). Full: the paper's "
                    "10 semantics, 5-d m_1, m_2 and training. Quick: 5 semantics, 2-d m_1, m_2, a small encoder "
                    "(two hidden layers of 128), batch 256, lr 4e-3 with cosine decay, 3000 steps: about 6 s of "
                    "one CPU thread per setting and seed (one seed; the extras three), enough to separate selection and "
                    "perturbation at p_perturb = 0.75.",
        model=dict(n_semantics=10, selected=None, perturbed=(), specific_dim=5, dependence="independent",
                   p_perturb=0.75),
        quick=dict(model=dict(n_semantics=5, specific_dim=2), train=_CAI_SWEEP_QUICK,
                   eval=dict(n_fit=2000, n_test=2000, regressors=("linear",), per_dimension=True), seeds=(0,),
                   chapter=dict(extras_seeds=(0, 1, 2),   # one draw of the joint policy is not enough (chapter 7)
                              sweep_labels=_CH07_QUICK_LABELS)),
        full=dict(train=_CAI_FULL, eval=dict(n_fit=5000, n_test=5000, regressors=("linear", "nonlinear"),
                                             per_dimension=True), seeds=(0, 1, 2), chapter=dict(extras_seeds=(0, 1, 2))),
    ),
    "jiang": dict(
        data="information_gap",
        description="Jiang et al. (2023), chapter 11: 4-d content (16 classes from the first two coordinates "
                    "in 4 bins; two instance coordinates), 2-d style resampled by the augmentations, 2-d image-only "
                    "m_1 (4 image-only classes from m_1[0]) and 2-d text-only wording m_2; L_Con plus the "
                    "regularizers. Quick: 800 steps of batch 256, two seeds, a 3-point λ sweep of 400 steps; full: 20,000 steps of "
                    "batch 1024, wider encoders, three seeds.",
        model=_JIANG_MODEL,
        quick=dict(train=_JIANG_QUICK, seeds=(0, 1), eval=dict(n_fit=2000, n_test=2000),
                   chapter=dict(sweep_steps=400,
                                sweep_grid=dict(sep=(0.3, 1.0, 3.0), br=(0.3, 1.0, 3.0), gc=(0.003, 0.03, 0.3)))),
        full=dict(train=_JIANG_FULL, seeds=(0, 1, 2), eval=dict(n_fit=5000, n_test=5000),
                  chapter=dict(sweep_steps=5000,
                               sweep_grid=dict(sep=(0.1, 0.3, 1.0, 3.0, 10.0), br=(0.1, 0.3, 1.0, 3.0, 10.0),
                                               gc=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3)))),
    ),
    "jiang_alignment": dict(
        data="information_gap",
        description="Jiang et al. (2023), chapter 10: chapter 11's pairs (16 content classes, 4 image-only classes "
                    "from m_1[0]) trained with L_Con + λ E‖ẑ_1 − ẑ_2‖² for a grid of λ, and at three temperatures "
                    "for the modality gap. Quick: 600 steps of batch 256, one seed (about 5 s per run on one CPU "
                    "thread); full: 10,000 steps of batch 1024, wider encoders, three seeds, a finer grid (not run "
                    "on a GPU by the authors of the chapter yet).",
        model=_JIANG_MODEL,
        quick=dict(train=_JIANG_QUICK.replace(steps=600), seeds=(0,),
                   eval=dict(n_fit=2000, n_test=2000, n_track=1000),
                   chapter=dict(lambdas=(0.0, 1.0, 3.0, 10.0), temperatures=(0.02, 0.3, 1.0), cone_seeds=(0, 1, 2, 3, 4),
                              n_cone=2000)),
        full=dict(train=_JIANG_FULL.replace(steps=10_000), seeds=(0, 1, 2),
                  eval=dict(n_fit=5000, n_test=5000, n_track=2000),
                  chapter=dict(lambdas=(0.0, 0.3, 1.0, 3.0, 10.0), temperatures=(0.01, 0.03, 0.3, 1.0),
                             cone_seeds=tuple(range(10)), n_cone=5000)),
    ),
    "scenes": dict(
        data="scenes",
        description="Daunhawer et al. (2023), the image/caption experiment on a procedural stand-in for "
                    "Multimodal3DIdent (mmcl_edu.scenes): one object (7 shapes, 3 × 3 positions, a hue) on a lit "
                    "background, captions from 5 templates naming the colour through a random palette of 4 names; "
                    "image CNN and caption ConvNet (its word positions flattened, as the paper's) trained with "
                    "cosine InfoNCE over several encoding sizes. Quick: 32 × 32 images, a four-layer CNN starting "
                    "at stride 2, 1600 steps of batch 64, encoding sizes 1, 2, 4, 8, three seeds (about 120 s on "
                    "2 cores); full: 64 × 64 images, 20,000 steps of batch 256, sizes 1 to 12 (a GPU).",
        model=dict(image_size=32, palette_size=4, object_half_size=0.2, text_pooling="flatten"),
        quick=dict(model=dict(encoder_stride=2), train=_SCENES_QUICK,
                   eval=dict(n_fit=1000, n_test=1000, n_cv=200, regressors=("nonlinear",)),
                   seeds=(0, 1, 2), chapter=dict(encoding_dims=(1, 2, 4, 8), n_show=16)),
        full=dict(model=dict(image_size=64), train=_SCENES_FULL,
                  eval=dict(n_fit=4000, n_test=4000, n_cv=1000, regressors=("nonlinear",)), seeds=(0, 1, 2),
                  chapter=dict(encoding_dims=(1, 2, 4, 6, 8, 12), n_show=16)),
    ),
    "jiang_scenes": dict(
        data="augmented_scenes",
        description="Jiang et al. (2023), chapter 12: chapter 5's image/caption pairs with augmented views (the "
                    "scene re-rendered with a fresh rotation and spotlight, the background hue kept; the caption "
                    "re-worded with another template and palette), two-head image CNN and caption ConvNet with a "
                    "6-dimensional shared code (room for the shared content, not for the background too), L_Con "
                    "plus each regularizer, every weight chosen on validation pairs. Quick: chapter 5's 32 × 32 encoders, "
                    "900 steps of batch 64, three seeds; full: 64 × 64 images, 20,000 steps of batch 256, an "
                    "8-dimensional code, three seeds (a GPU; not run by the authors of the chapter yet).",
        model=dict(image_size=32, palette_size=4, object_half_size=0.2, nuisances=("rotation", "spotlight_x", "spotlight_y")),
        quick=dict(model=dict(encoder_stride=2), train=_JIANG_SCENES_QUICK, seeds=(0, 1, 2),
                   eval=dict(n_fit=1000, n_test=1000, n_retrieval=500),
                   chapter=dict(sep_grid=(0.03, 0.1, 0.3, 1.0), br_grid=(0.005, 0.015, 0.05, 0.15),
                                gc_grid=(0.005, 0.015, 0.05, 0.15), sweep_seeds=(100, 101))),
        full=dict(model=dict(image_size=64), train=_JIANG_SCENES_FULL, seeds=(0, 1, 2),
                  eval=dict(n_fit=4000, n_test=4000, n_retrieval=1000),
                  chapter=dict(sep_grid=(0.01, 0.03, 0.1, 0.3, 1.0), br_grid=(0.005, 0.015, 0.05, 0.15, 0.5),
                               gc_grid=(0.001, 0.004, 0.0125, 0.04), sweep_seeds=(100, 101, 102))),  # L_GC grows with B
    ),
    "cai_captions": dict(
        data="scenes",
        description="Cai et al. (2025), the image/caption experiment on chapter 5's scenes (mmcl_edu.misaligned_captions): "
                    "captions that omit shared factors (selection, I_θ) or redraw a factor's word with probability "
                    "0.9 (perturbation, I_ρ); one image CNN and caption ConvNet per caption policy, cosine InfoNCE, "
                    "encoding size 8, every factor probed from the L2-normalised encodings. Quick: 24 × 24 images, "
                    "batch 64, 2000 steps, one seed; full: 64 × 64 images, chapter 5's full encoders, 20,000 steps, "
                    "three seeds.",
        model=dict(image_size=24, palette_size=4),
        quick=dict(train=_CAPTIONS_QUICK, eval=dict(n_fit=1000, n_test=1000, n_cv=200, regressors=("nonlinear",)),
                   seeds=(0,), chapter=dict(policies=_CAPTION_POLICIES, p_perturb=0.9, small_dim=2, n_show=8,
                                          dependent_policy=dict(omitted=("hue",)), lesson_steps=1200)),
        full=dict(model=dict(image_size=64), train=_CAPTIONS_FULL,
                  eval=dict(n_fit=4000, n_test=4000, n_cv=1000, regressors=("nonlinear",)), seeds=(0, 1, 2),
                  chapter=dict(policies=_CAPTION_POLICIES, p_perturb=0.9, small_dim=2, n_show=8,
                             dependent_policy=dict(omitted=("hue",)), lesson_steps=20_000)),
    ),
    "cai_downstream": dict(
        data="misalignment",
        description="Cai et al. (2025), chapter 9: one encoder pair per caption policy I_θ = [k], frozen and "
                    "probed on downstream targets in and out of distribution (a heavy-tailed shift of V). "
                    "Quick: 6 semantics, policies [2], [4], [6], V = {5, 6}; full: 10 semantics, the paper's "
                    "training, policies [3], [5], [7], [8], [9], [10], V = {9, 10}.",
        model=dict(n_semantics=10, selected=None, perturbed=(), specific_dim=5, dependence="independent"),
        quick=dict(model=dict(n_semantics=6, specific_dim=2), train=_CAI_DOWNSTREAM_QUICK,
                   eval=dict(n_fit=2000, n_test=2000), seeds=(0,),
                   chapter=dict(policies={"I_θ = [2]": (0, 1), "I_θ = [4]": (0, 1, 2, 3),
                                        "I_θ = [6]": tuple(range(6))},
                              coverage=("I_θ = [2]", "I_θ = [4]", "I_θ = [6]"),
                              full_policy="I_θ = [6]", embrace_policy="I_θ = [4]",
                              target_sizes=(2, 4, 6), invariant=(0, 1, 2, 3), shifted=(4, 5), h=0.5)),
        full=dict(train=_CAI_FULL, eval=dict(n_fit=5000, n_test=5000), seeds=(0,),
                  chapter=dict(policies={f"I_θ = [{k}]": tuple(range(k)) for k in (3, 5, 7, 8, 9, 10)},
                             coverage=("I_θ = [3]", "I_θ = [5]", "I_θ = [7]", "I_θ = [9]", "I_θ = [10]"),
                             full_policy="I_θ = [10]", embrace_policy="I_θ = [8]",
                             target_sizes=(3, 5, 7, 9), invariant=tuple(range(8)), shifted=(8, 9), h=0.5)),
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
    return Preset(name=name, size=size, model=model, data=spec.get("data"), description=spec["description"], **sized)



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
    if key in ("warmup_steps", "log_every"):
        return max(1 if key == "log_every" else 0, min(value, SMOKE_STEPS // 3))
    if key == "steps" or key.endswith("_steps"):  # e.g. a chapter's sweep_steps
        return min(value, SMOKE_STEPS)
    if key.startswith("n_"):
        return min(value, SMOKE_SAMPLES // 2 if key == "n_cv" else SMOKE_SAMPLES)
    return value


def smoke_of(quick: dict) -> dict:
    """The smoke size of a preset from its quick entry: at most :data:`SMOKE_STEPS` training steps, every integer evaluation argument named
    ``n_*`` capped at :data:`SMOKE_SAMPLES`, one seed; the model arguments are kept."""
    smoke = _shrink(quick)
    if "seeds" in smoke:
        smoke["seeds"] = tuple(smoke["seeds"])[:1]
    return smoke
