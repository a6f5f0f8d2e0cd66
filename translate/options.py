"""Options every plugin shares (the trainer's, not the model's). Each becomes a ``translate train``
flag next to the plugin's own config fields; a plugin may change their defaults with
``Plugin.train_defaults`` (e.g. a paired translator that trains with batch size 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .config import param


@dataclass
class TrainOptions:
    steps: int = param(2000, "generator updates to train for (each after the plugin's discriminator steps)")
    batch_size: int = param(16, "images per batch")
    size: int = param(64, "training image size in pixels (square)")
    seed: int = param(0, "seed for weights, data order, augmentation and noise")
    paper: bool = param(False, "the published recipe: the plugin's values for the fields whose defaults depart from "
                               "the paper (its --help says which), under your own flags and --config")
    device: Literal["auto", "cpu", "cuda", "mps"] = param(
        "auto", "where to train; auto picks cuda when available, then mps (Apple GPUs), else cpu")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = param(
        "auto", "autocast precision; auto = bf16 where the hardware runs it fast, else fp32"
    )
    init: str = param("", "start this new run from a checkpoint's weights: a model.safetensors, its run folder, or a "
                          "released model's name ('translate models'); the modules it holds load (EMA weights where "
                          "it has them), the rest start fresh; not the optimiser or step (that is --resume)")
    ema: float = param(0.0, "EMA decay of the generator weights, used by apply/sample (0 = off; 0.999 is typical); "
                            "warmed up as min(decay, (1 + step) / (10 + step)) so short runs are not their start")
    checkpoint_every: int = param(1000, "write a checkpoint every N steps (and always at the end)")
    sample_every: int = param(500, "write a sample grid PNG every N steps (0 = only at the end)")
    log_every: int = param(10, "append losses to log.jsonl every N steps")
    workers: int = param(0, "data-loading worker processes (0 = load in the training process)")
    eval_every: int = param(0, "evaluate every N steps (the plugin's metrics, e.g. FID) on --eval-* held-out data, "
                               "or the training data without it; appends to metrics.jsonl (0 = off)")
    eval_images: int = param(0, "images (or samples) per evaluation of --eval-every; 0 = the plugin's default")
    keep_best: str = param("", "keep best.safetensors by this metric of the evaluation (fid, kid, lpips, psnr, "
                               "ssim, ...; max:NAME / min:NAME for others); needs --eval-every")
    tensorboard: bool = param(False, "also write losses, metrics and samples for TensorBoard to RUN/tensorboard")
    skip_bad_images: bool = param(False, "skip unreadable images with a count instead of stopping with their paths")


# Fields that may change when resuming: they do not alter the model or the optimisation.
RESUMABLE_OVERRIDES = frozenset(
    {"steps", "device", "precision", "checkpoint_every", "sample_every", "log_every", "workers", "eval_every",
     "eval_images", "tensorboard"}
)
