"""Learning-rate schedules shared by the translation plugins."""

from __future__ import annotations

import torch


def constant_then_linear_decay(optimizer: torch.optim.Optimizer, total_steps: int,
                               decay_fraction: float = 0.5) -> torch.optim.lr_scheduler.LambdaLR:
    """Constant learning rate, then linear decay to 0 over the last ``decay_fraction`` of the
    steps (pix2pix / CycleGAN: 100 epochs constant + 100 decaying, i.e. a fraction of 0.5)."""
    decay_steps = max(1, round(total_steps * decay_fraction))
    decay_start = total_steps - decay_steps

    def factor(step: int) -> float:
        if step < decay_start:
            return 1.0
        return max(0.0, 1.0 - (step - decay_start) / decay_steps)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def decay_each(optimizers: dict[str, torch.optim.Optimizer], total_steps: int,
               decay_fraction: float) -> dict[str, torch.optim.lr_scheduler.LambdaLR]:
    """:func:`constant_then_linear_decay` for every optimiser, by name (a plugin's ``schedulers``)."""
    return {name: constant_then_linear_decay(opt, total_steps, decay_fraction) for name, opt in optimizers.items()}
