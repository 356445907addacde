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


def train(model, config: TrainConfig | None = None, *, seed: int = 0, device=None, checkpoint_dir=None,
          checkpoint_every: int | None = None, resume: bool = False, progress: bool | None = None, callback=None,
          callback_every: int | None = None, encoder_factory=None, loss_hook=None, **overrides) -> TrainResult:
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
        Seeds the encoder initialisation and the stream of training batches (several seeds:
        :func:`train_seeds`).
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
    """
    config = _checked_config(config, overrides)
    _check_arguments(seed, checkpoint_dir, checkpoint_every, resume, callback, callback_every, encoder_factory,
                     loss_hook)
    run = _Run.start(model, config, seed, device, checkpoint_dir, encoder_factory, loss_hook)
    if resume:
        run.resume()
    bar = tqdm(total=config.steps, initial=run.step, disable=not progress_enabled(progress),
               desc=f"training (seed {seed}, {run.device.type})", leave=False)
    run.encoders.train()
    while run.step < config.steps:
        run.train_step(model.sample(config.batch_size, generator=run.generator), loss_hook)
        if run.step % config.log_every == 0 or run.step == config.steps:
            run.log(bar)
        if callback is not None and callback_every and run.step % callback_every == 0 and run.step < config.steps:
            run.run_callback(callback)
        if run.ckpt is not None and checkpoint_every and run.step % checkpoint_every == 0:
            run.save()
        bar.update(1)
    bar.close()
    run.result.train_seconds = run.seconds()
    callbacks = run.history["callback"]
    if callback is not None and (not callbacks or callbacks[-1]["step"] != run.step):
        run.run_callback(callback)
    if run.ckpt is not None:
        run.save()
    run.encoders.eval()
    return run.result


def train_seeds(model, config: TrainConfig | None = None, seeds=(0,), **kwargs) -> list[TrainResult]:
    """One :func:`train` run per seed, in turn (same arguments otherwise); the results in the seeds' order."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must contain at least one seed")
    return [train(model, config, seed=s, **kwargs) for s in seeds]


def _checked_config(config, overrides) -> TrainConfig:
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig; got {type(config).__name__}")
    return config.replace(**overrides) if overrides else config


def _check_arguments(seed, checkpoint_dir, checkpoint_every, resume, callback, callback_every, encoder_factory,
                     loss_hook):
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


class _Run:
    """The state of one :func:`train` run and its phases: start, resume, one step, log, callback, save."""

    @classmethod
    def start(cls, model, config: TrainConfig, seed: int, device, checkpoint_dir, encoder_factory, loss_hook):
        """Seed, build the encoders, the loss and the optimiser, and the data stream, in this order
        (the order fixes the random numbers each one draws)."""
        self = cls()
        self.config, self.seed = config, seed
        self.device = device = model.device if device is None else resolve_device(device)
        if model.device != device:
            model.to(device)
        self.cuda = device.type == "cuda"
        if self.cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(shift_seed(seed))
        out_dim = config.encoding_dim or default_encoding_dim(model)
        self.encoders = (encoder_factory or default_encoders)(model, out_dim, config).to(device)
        self.loss_fn = InfoNCE(config.temperature, config.similarity, config.negatives,
                               config.learnable_temperature).to(device)
        self.params = list(self.encoders.parameters()) + list(self.loss_fn.parameters())
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr, weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _lr_lambda(config))
        self.generator = model._make_generator(seed + 7919)
        self.history = {"step": [], "loss": [], "lr": [], "temperature": [], "seconds": [], "callback": []}
        self.step, self.elapsed, self.t0 = 0, 0.0, time.perf_counter()
        self.loss_sum, self.n_sum = torch.zeros((), device=device), 0
        self.ckpt = None if checkpoint_dir is None else _checkpoint_path(checkpoint_dir, seed)
        self.identity = {"config": dataclasses.asdict(config), "seed": shift_seed(seed),
                         "model": repr(model).split(", device=")[0]}
        if loss_hook is not None or encoder_factory is not None:
            self.identity["objective"] = f"{loss_hook!r} / {encoder_factory!r}"
        self.result = TrainResult(self.encoders, self.loss_fn, self.history, config, seed, device, 0.0)
        return self

    def seconds(self) -> float:
        """Training time so far, including the time before a resume."""
        return self.elapsed + time.perf_counter() - self.t0

    def resume(self):
        """Continue from the checkpoint, if there is one made by the same run (else ``ValueError``)."""
        if not self.ckpt.exists():
            return
        state = torch.load(self.ckpt, map_location=self.device, weights_only=False)
        for key, value in self.identity.items():
            if state["identity"][key] != value:
                raise ValueError(f"the checkpoint {self.ckpt} was made with a different {key}: "
                                 f"{state['identity'][key]!r} (now {value!r}); use another checkpoint_dir")
        self.encoders.load_state_dict(state["encoders"])
        self.loss_fn.load_state_dict(state["loss_fn"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"].to(self.generator.device) if self.cuda else state["generator"])
        self.history.update(state["history"])
        self.step, self.elapsed, self.t0 = state["step"], state["seconds"], time.perf_counter()
        self.result.train_seconds = self.elapsed

    def train_step(self, batch, loss_hook):
        """One optimiser step on ``batch``. Every objective runs in the same autocast region: on a GPU, a
        ``loss_hook``'s encoders get bf16 as InfoNCE's do; the loss itself is computed in float32."""
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda):
            if loss_hook is None:
                z1, z2 = self.encoders[0](batch.x1), self.encoders[1](batch.x2)
            else:
                loss = loss_hook(self.encoders, batch, self.loss_fn)
        if loss_hook is None:
            loss = self.loss_fn(z1.float(), z2.float())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.loss_sum += loss.detach()   # summed on the device: read back only when logged
        self.n_sum += 1

    def log(self, bar):
        """Append the mean loss since the last log (and lr, temperature, time) to the history; a NaN or
        infinite loss stops the run with ``FloatingPointError``."""
        mean_loss = float(self.loss_sum) / self.n_sum
        if not math.isfinite(mean_loss):
            bar.close()
            raise FloatingPointError(
                f"the training loss became {mean_loss} before step {self.step} (seed {self.seed}); try a smaller "
                f"lr (now {self.config.lr}) or a larger temperature (now {self.config.temperature})")
        self.result.train_seconds = self.seconds()
        for key, value in (("step", self.step), ("loss", mean_loss), ("lr", self.scheduler.get_last_lr()[0]),
                           ("temperature", float(self.loss_fn.temperature.detach())),
                           ("seconds", self.result.train_seconds)):
            self.history[key].append(value)
        bar.set_postfix(loss=f"{mean_loss:.4f}")
        self.loss_sum.zero_()
        self.n_sum = 0

    def run_callback(self, callback):
        self.encoders.eval()
        with torch.no_grad():
            out = callback(self.step, self.result)
        self.encoders.train()
        if isinstance(out, dict):
            self.history["callback"].append({"step": self.step, "seconds": self.result.train_seconds, **out})

    def save(self):
        """Write the checkpoint atomically (a temporary file, then a rename)."""
        self.ckpt.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.ckpt.with_suffix(".tmp")
        torch.save({"identity": self.identity, "step": self.step, "seconds": self.result.train_seconds,
                    "encoders": self.encoders.state_dict(), "loss_fn": self.loss_fn.state_dict(),
                    "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "generator": self.generator.get_state(), "history": self.history}, tmp)
        os.replace(tmp, self.ckpt)
