"""mmcl_edu — the code behind the course *Multimodal Contrastive Learning: Theory You Can Run*.

One module per idea, in the order of the book. The module map is the table of the API reference
(``book/api.md``), generated from the modules' own docstrings by ``scripts/api_pages.py``, so that it lists
exactly the modules the package has; a test keeps it current.
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
from .training import TrainConfig, TrainResult, train, train_seeds

__version__ = "0.1.0"

__all__ = [
    "ContentStyleModel", "MisalignmentModel", "SceneModel", "PairedBatch", "InvertibleMLP", "MLPEncoder", "make_encoders",
    "InfoNCE", "info_nce", "symmetric_info_nce", "intramodal_info_nce", "similarity_matrix", "alignment",
    "uniformity", "TrainConfig", "TrainResult", "train", "train_seeds", "evaluate", "summarize", "predictability",
    "probe_accuracy", "Preset", "preset", "available_presets", "resolve_size", "identified_set",
    "resolve_device", "contrastive_loss", "orthogonality_loss", "separation_loss", "brownian_bridge_loss",
    "cyclip_consistency", "augmented_consistency", "geometric_consistency_loss", "modality_gap", "recall_at_k",
    "zero_shot_accuracy",
]
