"""What a plugin's step hooks receive: the training context ``ctx``.

:class:`TrainContext` is passed to ``discriminator_step``, ``generator_step``, ``train_step`` and
``preview`` (see :data:`translate.plugin.HOOKS`). It holds the plugin's config, the trainer's
options and the run's modules, optimisers, schedulers, grad scalers and EMA copies, plus
``ctx.buffers`` (extra training state saved with the checkpoint and restored on ``--resume``). Its
methods do what a step needs without knowing the device, the precision or torchrun: draw the next
batch, run under autocast, backward and step an optimiser (averaging gradients over processes
under torchrun), freeze modules, draw noise from the run's RNG, and give fixed preview inputs.
The trainer (:mod:`translate.trainer`) builds it during set-up and advances ``step``.
"""

from __future__ import annotations

import contextlib
from dataclasses import InitVar, dataclass, field
from typing import Any, Iterator

import torch

from .runtime import Runtime

PREVIEW_SEED = 1234  # fixed, so successive sample grids show the same noise / inputs


@dataclass
class TrainContext:
    """What a plugin's steps see. ``config`` is the plugin's config, ``options`` the trainer's.

    Built once by the trainer (or a benchmark) with everything a step draws from: ``batches`` (an
    iterator of CPU batches, see :meth:`next_batch`), ``preview_items`` (the collated items that
    :meth:`preview_batch` shows, see :func:`collate_preview`) and, under torchrun, ``dist`` and
    ``noise`` (the noise generator all ranks share, see :meth:`randn`)."""

    plugin: Any
    config: Any
    options: Any
    runtime: Runtime
    modules: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any]
    scalers: dict[str, Any]
    ema: dict[str, torch.nn.Module] | None
    buffers: dict[str, torch.Tensor] = field(default_factory=dict)
    step: int = 0
    consumed: int = 0  # batches drawn from the data stream so far (by this process)
    dist: Any = None  # translate.distributed.Session under torchrun, else None
    batches: InitVar[Iterator | None] = None
    preview_items: InitVar[dict | None] = None
    noise: InitVar[torch.Generator | None] = None

    def __post_init__(self, batches: Iterator | None, preview_items: dict | None,
                      noise: torch.Generator | None) -> None:
        self._batches, self._preview_batch, self._noise = batches, preview_items, noise

    @property
    def noise_generator(self) -> torch.Generator | None:
        """The noise generator all ranks share under torchrun (saved with the training state)."""
        return self._noise

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    def next_batch(self) -> dict[str, Any]:
        """A fresh batch, on the device (4-D tensors channels_last when the plugin asks for it)."""
        self.consumed += 1
        return self.runtime.tensor(next(self._batches))

    def autocast(self):
        return self.runtime.autocast()

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """Backward ``loss`` and step optimiser ``name``, with the fp16 grad scaler when in use.
        Gradients of that optimiser's parameters are cleared first, so stale gradients that other
        losses left in them never leak into this update. Under torchrun the gradients are averaged
        over the processes between backward and step (DDP's all-reduce, done explicitly)."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        scaler = self.scalers.get(name)
        # Backward runs outside autocast (as PyTorch recommends) even when called inside it.
        with torch.autocast(self.device.type, enabled=False):
            if scaler is None:
                loss.backward()
                self._average_gradients(opt)
                opt.step()
            else:
                scaler.scale(loss).backward()
                self._average_gradients(opt)  # scaled alike on every rank; an inf anywhere is everywhere
                scaler.step(opt)
                scaler.update()

    def _average_gradients(self, opt: torch.optim.Optimizer) -> None:
        if self.dist is not None:
            self.dist.average_gradients(p for group in opt.param_groups for p in group["params"])

    @contextlib.contextmanager
    def frozen(self, *modules: torch.nn.Module):
        """Turn off gradients of ``modules`` (e.g. D during the G step) to save their backward."""
        saved = [(p, p.requires_grad) for m in modules for p in m.parameters()]
        for p, _ in saved:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in saved:
                p.requires_grad_(flag)

    def randn(self, *shape: int) -> torch.Tensor:
        """Noise on the device from the run's RNG (restored on resume). The first dimension is the
        batch: under torchrun this rank gets its rows of the noise of the global batch, so W
        processes draw together what one process with W times the batch would draw."""
        if self._noise is None or not shape:
            return torch.randn(*shape, device=self.device)
        world, rank = self.dist.world_size, self.dist.rank
        full = torch.randn(shape[0] * world, *shape[1:], device=self.device, generator=self._noise)
        return full[rank::world].contiguous()

    def inference_modules(self) -> dict[str, torch.nn.Module]:
        """The modules apply/sample would use now: EMA copies when EMA is on."""
        source = self.ema if self.ema else self.modules
        return {name: source[name] for name in self.plugin.inference_modules}

    def preview_generator(self) -> torch.Generator:
        return torch.Generator(device="cpu").manual_seed(PREVIEW_SEED)

    def preview_batch(self) -> dict[str, Any]:
        """The same few dataset items every time (for translation previews)."""
        return self.runtime.tensor(self._preview_batch)


def collate_preview(dataset, n: int = 8) -> dict[str, Any]:
    """The first ``n`` items of ``dataset``, each drawn with a fixed seed, as one batch."""
    items = [dataset[(i, PREVIEW_SEED + i)] for i in range(min(n, len(dataset)))]
    return torch.utils.data.default_collate(items)
