"""mmcl_edu — the code behind the course *Multimodal Contrastive Learning: Theory You Can Run*.

One module per idea, in the order of the book:

========================  =================================================  ==========
module                    what it holds                                      chapters
========================  =================================================  ==========
``losses``                InfoNCE (one-way, symmetric, intra-modal),         1
                          alignment and uniformity
``toy``                   the sphere toy and temperature figures             1
``mi_bound``              the InfoNCE bound on a Gaussian pair               1
``mixing``                frozen invertible MLPs ``f_i``                     2
``latents``               content/style/modality-specific model              2–4
``identifiability``       oracle encoders, numerical checks of the proof     3
``scenes``                rendered image/caption pairs, captions, tokenizer  5, 8, 12
``misalignment``          selection and perturbation bias                    6–7, 9
``misalignment_theory``   numerical checks of the misalignment theorem       6
``misalignment_simulations``  sweeps, R² heatmaps, dependent-case oracle     7
``misaligned_captions``   caption policies on the scenes, heatmaps, norm     8
``encoders``              MLP encoders ``g_i`` (optional input whitening);   all
                          image CNN and caption ConvNet
``training``              the training loop (CPU or GPU, checkpoints)        all
``evaluation``            R² and accuracy probes                             4, 5, 7, 9
``presets``               quick (CPU) and full (GPU) configurations          all
``experiments``           train-and-evaluate runners for the chapters        4, 5, 7, 9
``parallel``              a CPU run's settings side by side, one thread each 4–5, 7–9, 11–12
``negate_or_embrace``     downstream targets, heavy-tailed shift, OOD probes 9
``information``           exact entropies, mutual information, Δ_p,          10
                          Theorem 3.1 on discrete tables
``exact_alignment``       alignment penalty, cone effect, gap shifts         10
``regularizers``          L_Con, L_Sep, L_Br, L_GC + L^a_GC, CyCLIP terms    11
``structure_metrics``     modality gap, recall@k, zero-shot accuracy         10–11
``latent_structures``     augmented pairs, two-head encoders, the ch. 11 run 10–11
``plots``, ``widgets``    figures and interactive explorers                  all
``checks``                auto-checks for the exercises                      all
``scorecard``             reproduction scorecard: rows saved by chapters     back
``claims``                claims on trained outcomes, checked and recorded   4–5, 7–12
                          (the margin table, appendix)
``env``                   the ``MMCL_EDU_*`` variables, validated            all
========================  =================================================  ==========
"""
import os as _os

import torch as _torch

# Thread count for CPU training: MMCL_EDU_THREADS wins; otherwise torch's default (all cores).
from .env import threads as _threads  # noqa: E402

if _threads():
    _torch.set_num_threads(_threads())

from .training import flush_denormals as _flush_denormals  # noqa: E402

# Denormal floats flushed to zero on the CPU, before torch starts its worker threads (they inherit the
# mode): the late phase of a CPU training run gets about 1.5x faster. See training.flush_denormals.
_flush_denormals()

from .encoders import MLPEncoder, make_encoders
from .evaluation import evaluate, predictability, probe_accuracy, summarize
from .latents import ContentStyleModel, PairedBatch, resolve_device
from .losses import (InfoNCE, alignment, info_nce, intramodal_info_nce, similarity_matrix,
                     symmetric_info_nce, uniformity)
from .misalignment import MisalignmentModel, identified_set
from .regularizers import (augmented_consistency, brownian_bridge_loss, contrastive_loss, cyclip_consistency,
                           geometric_consistency_loss, orthogonality_loss, separation_loss)
from .structure_metrics import modality_gap, recall_at_k, zero_shot_accuracy
from .scenes import SceneModel
from .mixing import InvertibleMLP
from .presets import Preset, available_presets, preset, resolve_size
from .training import TrainConfig, TrainResult, train

__version__ = "0.1.0"

__all__ = [
    "ContentStyleModel", "MisalignmentModel", "SceneModel", "PairedBatch", "InvertibleMLP", "MLPEncoder", "make_encoders",
    "InfoNCE", "info_nce", "symmetric_info_nce", "intramodal_info_nce", "similarity_matrix", "alignment",
    "uniformity", "TrainConfig", "TrainResult", "train", "evaluate", "summarize", "predictability",
    "probe_accuracy", "Preset", "preset", "available_presets", "resolve_size", "identified_set",
    "resolve_device", "contrastive_loss", "orthogonality_loss", "separation_loss", "brownian_bridge_loss",
    "cyclip_consistency", "augmented_consistency", "geometric_consistency_loss", "modality_gap", "recall_at_k",
    "zero_shot_accuracy",
]
