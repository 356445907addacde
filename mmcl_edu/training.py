"""One training loop for every chapter.

:func:`train` fits a pair of encoders ``(g_1, g_2)`` with InfoNCE on fresh samples drawn, on the
training device, from a generative model (:class:`~mmcl_edu.latents.ContentStyleModel` or
:class:`~mmcl_edu.misalignment.MisalignmentModel`). It

* uses CUDA when available (or ``device=``), with bf16 autocast and TF32 on the GPU;
* shows a ``tqdm.auto`` progress bar with the loss (``progress=False`` or the environment
  variable ``MMCL_EDU_PROGRESS=0`` silences it);
* records a history of the loss, learning rate and temperature;
* writes a checkpoint every ``checkpoint_every`` steps and, with ``resume=True``, continues from
  the last one to exactly the result of an uninterrupted run (the data stream's RNG state is
  checkpointed too);
* is deterministic for a given seed and device;
* runs with denormal floats flushed to zero on the CPU, which ``import mmcl_edu`` switches on
  (:func:`flush_denormals`: the late phase of a CPU run is about 1.5× faster);
* stops with a ``FloatingPointError`` when the loss becomes NaN or infinite.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .env import shift_seed
from ._validation import check_choice, check_float, check_int
from .encoders import ACTIVATIONS, make_encoders
from .latents import resolve_device
from .losses import NEGATIVES, SIMILARITIES, InfoNCE

LR_SCHEDULES = ("constant", "cosine")
#: Pairs drawn (with a seed of their own, away from the training stream) to fit input whitening.
WHITEN_SAMPLES = 10_000
WHITEN_SEED = 2**31 - 1


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (the model and the seed aside).

    ``encoding_dim=None`` uses the model's natural encoding size: the content size for
    :class:`~mmcl_edu.latents.ContentStyleModel`, ``|I_θ \\ I_ρ|`` for
    :class:`~mmcl_edu.misalignment.MisalignmentModel`.

    ``whiten_inputs=True`` starts each encoder with a fixed whitening of its input
    (:class:`~mmcl_edu.encoders.Whitening`), fitted on ``WHITEN_SAMPLES`` pairs drawn with a
    seed of their own: an invertible linear map that speeds up training several-fold.
    """

    steps: int = 2000
    batch_size: int = 512
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    grad_clip: float | None = 2.0
    hidden: tuple[int, ...] = (256, 256, 256)
    activation: str = "leaky_relu"
    encoding_dim: int | None = None
    shared_encoder: bool = False
    normalize: bool = False
    similarity: str = "euclidean"
    temperature: float = 1.0
    learnable_temperature: bool = False
    negatives: str = "cross"
    whiten_inputs: bool = False
    log_every: int = 25

    def __post_init__(self):
        check_int("steps", self.steps, 0)
        check_int("batch_size", self.batch_size, 2)
        check_float("lr", self.lr, 0.0, None, low_open=True)
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_int("warmup_steps", self.warmup_steps, 0)
        check_float("weight_decay", self.weight_decay, 0.0)
        if self.grad_clip is not None:
            check_float("grad_clip", self.grad_clip, 0.0, None, low_open=True)
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for h in self.hidden:
            check_int("hidden (each width)", h, 1)
        check_choice("activation", self.activation, ACTIVATIONS)
        if self.encoding_dim is not None:
            check_int("encoding_dim", self.encoding_dim, 1)
        check_choice("similarity", self.similarity, SIMILARITIES)
        check_float("temperature", self.temperature, 0.0, None, low_open=True)
        check_choice("negatives", self.negatives, NEGATIVES)
        check_int("log_every", self.log_every, 1)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (unknown names raise ``ValueError``)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {sorted(unknown)}; allowed: "
                             f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)


@dataclass
class TrainResult:
    """Trained encoders ``(g_1, g_2)`` and how they got there."""

    encoders: nn.ModuleList
    loss_fn: InfoNCE
    history: dict = field(default_factory=dict)
    config: TrainConfig | None = None
    seed: int = 0
    device: torch.device = torch.device("cpu")
    train_seconds: float = 0.0

    @torch.no_grad()
    def encode(self, x1: torch.Tensor | None, x2: torch.Tensor | None,
               batch_size: int = 8192) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(ẑ_1, ẑ_2) = (g_1(x_1), g_2(x_2))`` in float32, in chunks, without gradients.
        Pass ``None`` for a modality you do not need; its code comes back as ``None``."""
        self.encoders.eval()
        out = []
        for g, x in zip(self.encoders, (x1, x2)):
            if x is None:
                out.append(None)
                continue
            x = x.to(self.device)
            out.append(torch.cat([g(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)]))
        return out[0], out[1]


def default_encoding_dim(model) -> int:
    if hasattr(model, "identified"):
        return len(model.identified)
    if hasattr(model, "content_dim"):
        return model.content_dim
    raise ValueError("set encoding_dim in the TrainConfig: the model has no natural encoding size")


def whitening_sample(model, config: TrainConfig):
    """``(x_1, x_2)``: the ``WHITEN_SAMPLES`` pairs (drawn with their own seed, away from the
    training stream) that input whitening is fitted on, or ``None`` when ``config.whiten_inputs``
    is off."""
    if not config.whiten_inputs:
        return None
    sample = model.sample(WHITEN_SAMPLES, seed=WHITEN_SEED)
    return sample.x1, sample.x2


def default_encoders(model, out_dim: int, config: TrainConfig) -> nn.ModuleList:
    """The encoder pair :func:`train` uses unless given an ``encoder_factory``: the model's own
    ``make_encoders(out_dim, config)`` (images and captions), else the MLPs of
    :func:`~mmcl_edu.encoders.make_encoders` with the config's widths and optional whitening."""
    if hasattr(model, "make_encoders"):
        if config.whiten_inputs or config.shared_encoder:
            raise ValueError(f"{type(model).__name__} builds its own encoders: whiten_inputs and "
                             "shared_encoder must be False")
        return model.make_encoders(out_dim, config)
    return make_encoders(model.observation_dims, out_dim, config.hidden, config.activation,
                         config.shared_encoder, config.normalize, whiten=whitening_sample(model, config))


def progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    return os.environ.get("MMCL_EDU_PROGRESS", "1").strip().lower() not in ("0", "false", "no", "off")


def _lr_lambda(cfg: TrainConfig):
    def f(step):
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.lr_schedule == "constant":
            return 1.0
        t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return f


def _checkpoint_path(checkpoint_dir, seed) -> Path:
    return Path(checkpoint_dir) / f"seed{seed}.pt"


def flush_denormals() -> bool:
    """Flush denormal floats to zero on the CPU from now on (``torch.set_flush_denormal(True)``);
    ``import mmcl_edu`` calls it. Returns whether the CPU supports it.

    Why: with AdamW, the moment estimates and the weight-decayed weights of directions that get
    (almost) no gradient shrink geometrically into the denormal range (below about 1e-38 in
    float32), where every operation on them is many times slower on a CPU. Measured on chapter 4's
    quick run (4,000 steps, 2 threads): 34.9 s without flushing, 23.6 s with it; the second half of
    a run is the slow one. Numbers that small carry nothing the encoders or the probes use (the
    TensorFlow CPU runtime flushes them by default too), and runs stay deterministic.

    The mode is per thread, and a thread inherits it when it is created: set it before torch has
    started its worker threads, as importing the package first does. Importing ``mmcl_edu`` after
    torch has run multi-threaded work leaves those threads unflushed (correct, only slower).
    """
    return bool(torch.set_flush_denormal(True))


def train(model, config: TrainConfig | None = None, *, seed: int = 0, seeds=None, device=None,
          checkpoint_dir=None, checkpoint_every: int | None = None, resume: bool = False,
          progress: bool | None = None, callback=None, callback_every: int | None = None,
          encoder_factory=None, loss_hook=None, **overrides):
    """Train ``(g_1, g_2)`` on pairs from ``model`` with InfoNCE (or the objective of ``loss_hook``).

    Parameters
    ----------
    model : ContentStyleModel, MisalignmentModel or SceneModel
        The generative model; samples are drawn on the training device (the model is
        moved there). A model with a ``make_encoders(out_dim, config)`` method (the image/caption
        :class:`~mmcl_edu.scenes.SceneModel`) supplies its own encoder pair (see ``encoder_factory``).
    config : TrainConfig, optional
        Defaults to ``TrainConfig()``; keyword ``overrides`` change single fields,
        e.g. ``train(model, cfg, steps=500)``.
    seed : int
        Seeds the encoder initialisation and the stream of training batches.
    seeds : iterable of int, optional
        Train one run per seed (sequentially) and return a list of results.
    device : None, "cpu", "cuda" or torch.device
        ``None``: the model's device (CUDA when available).
    checkpoint_dir, checkpoint_every :
        Save ``checkpoint_dir/seed{seed}.pt`` every ``checkpoint_every`` steps and at the end.
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir`` if there is one.
    progress : bool, optional
        Show a progress bar (default: on, unless ``MMCL_EDU_PROGRESS=0``).
    callback : callable(step, result) -> dict, optional
        Called every ``callback_every`` steps (and at the end) with a :class:`TrainResult`
        view of the current encoders; a returned dict is appended to ``history["callback"]``.
        It must not use the training RNG (sample with its own ``seed=``).
    encoder_factory : callable(model, out_dim, config) -> nn.ModuleList, optional
        Builds the encoder pair (called after seeding, so the initialisation stays deterministic),
        e.g. encoders with extra heads. Default: :func:`default_encoders` — the model's own
        ``make_encoders(out_dim, config)`` if it has one, else the MLPs of
        :func:`~mmcl_edu.encoders.make_encoders`. :func:`whitening_sample` gives a factory the
        pairs that ``config.whiten_inputs`` fits its whitening on.
    loss_hook : callable(encoders, batch, loss_fn) -> loss, optional
        The training objective on one batch from ``model.sample`` (default:
        ``loss_fn(g_1(x_1), g_2(x_2))``). ``loss_fn`` is the :class:`~mmcl_edu.losses.InfoNCE`
        module of the config (its temperature). It runs in the same bf16 autocast region on a GPU
        as the encoders of the default objective. Its ``repr`` enters the checkpoint's identity, so
        give it a readable one (a dataclass) that names its weights.

    Returns
    -------
    TrainResult, or a list of them when ``seeds`` is given.
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig; got {type(config).__name__}")
    if overrides:
        config = config.replace(**overrides)
    if seeds is not None:
        seeds = list(seeds)
        if not seeds:
            raise ValueError("seeds must contain at least one seed")
        return [train(model, config, seed=s, device=device, checkpoint_dir=checkpoint_dir,
                      checkpoint_every=checkpoint_every, resume=resume, progress=progress,
                      callback=callback, callback_every=callback_every, encoder_factory=encoder_factory,
                      loss_hook=loss_hook) for s in seeds]
    check_int("seed", seed, 0)
    if checkpoint_every is not None:
        check_int("checkpoint_every", checkpoint_every, 1)
        if checkpoint_dir is None:
            raise ValueError("checkpoint_every needs checkpoint_dir")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir")
    if callback is not None and not callable(callback):
        raise ValueError("callback must be callable(step, result)")
    if callback_every is not None:
        check_int("callback_every", callback_every, 1)
    for name, fn in (("encoder_factory", encoder_factory), ("loss_hook", loss_hook)):
        if fn is not None and not callable(fn):
            raise ValueError(f"{name} must be callable or None; got {fn!r}")

    device = model.device if device is None else resolve_device(device)
    if model.device != device:
        model.to(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    torch.manual_seed(shift_seed(seed))
    out_dim = config.encoding_dim or default_encoding_dim(model)
    encoders = (default_encoders if encoder_factory is None else encoder_factory)(model, out_dim, config)
    encoders = encoders.to(device)
    loss_fn = InfoNCE(config.temperature, config.similarity, config.negatives,
                      config.learnable_temperature).to(device)
    params = list(encoders.parameters()) + list(loss_fn.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config))
    generator = model._make_generator(seed + 7919)
    history = {"step": [], "loss": [], "lr": [], "temperature": [], "seconds": [], "callback": []}
    step, elapsed = 0, 0.0

    ckpt = None if checkpoint_dir is None else _checkpoint_path(checkpoint_dir, seed)
    identity = {"config": dataclasses.asdict(config), "seed": shift_seed(seed),
                "model": repr(model).split(", device=")[0]}
    if loss_hook is not None or encoder_factory is not None:
        identity["objective"] = f"{loss_hook!r} / {encoder_factory!r}"
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        for key, value in identity.items():
            if state["identity"][key] != value:
                raise ValueError(f"the checkpoint {ckpt} was made with a different {key}: "
                                 f"{state['identity'][key]!r} (now {value!r}); use another checkpoint_dir")
        encoders.load_state_dict(state["encoders"])
        loss_fn.load_state_dict(state["loss_fn"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"].to(generator.device) if cuda else state["generator"])
        history, step, elapsed = state["history"], state["step"], state["seconds"]

    result = TrainResult(encoders, loss_fn, history, config, seed, device, elapsed)

    def save():
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"identity": identity, "step": step, "seconds": result.train_seconds,
                    "encoders": encoders.state_dict(), "loss_fn": loss_fn.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "generator": generator.get_state(), "history": history}, tmp)
        os.replace(tmp, ckpt)

    def run_callback():
        encoders.eval()
        with torch.no_grad():
            out = callback(step, result)
        encoders.train()
        if isinstance(out, dict):
            history["callback"].append({"step": step, "seconds": result.train_seconds, **out})

    bar = tqdm(total=config.steps, initial=step, disable=not progress_enabled(progress),
               desc=f"training (seed {seed}, {device.type})", leave=False)
    encoders.train()
    loss_sum, n_sum, t0 = torch.zeros((), device=device), 0, time.perf_counter()
    while step < config.steps:
        batch = model.sample(config.batch_size, generator=generator)
        # every objective in the same autocast region: on a GPU, a loss_hook's encoders get bf16 as InfoNCE's do
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            if loss_hook is None:
                z1, z2 = encoders[0](batch.x1), encoders[1](batch.x2)
            else:
                loss = loss_hook(encoders, batch, loss_fn)
        if loss_hook is None:
            loss = loss_fn(z1.float(), z2.float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        loss_sum += loss.detach()
        n_sum += 1
        if step % config.log_every == 0 or step == config.steps:
            mean_loss = float(loss_sum) / n_sum
            if not math.isfinite(mean_loss):
                bar.close()
                raise FloatingPointError(
                    f"the training loss became {mean_loss} before step {step} (seed {seed}); "
                    f"try a smaller lr (now {config.lr}) or a larger temperature (now {config.temperature})")
            result.train_seconds = elapsed + time.perf_counter() - t0
            history["step"].append(step)
            history["loss"].append(mean_loss)
            history["lr"].append(scheduler.get_last_lr()[0])
            history["temperature"].append(float(loss_fn.temperature.detach()))
            history["seconds"].append(result.train_seconds)
            bar.set_postfix(loss=f"{mean_loss:.4f}")
            loss_sum.zero_()
            n_sum = 0
        if callback is not None and callback_every and step % callback_every == 0 and step < config.steps:
            run_callback()
        if ckpt is not None and checkpoint_every and step % checkpoint_every == 0:
            save()
        bar.update(1)
    bar.close()
    result.train_seconds = elapsed + time.perf_counter() - t0
    if callback is not None and (not history["callback"] or history["callback"][-1]["step"] != step):
        run_callback()
    if ckpt is not None:
        save()
    encoders.eval()
    return result
