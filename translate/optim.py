"""Optimisers built the fastest way this machine allows, for the built-ins and third parties alike.

``adam(params, lr, betas)`` is ``torch.optim.Adam`` with the fused kernel when every parameter is a
floating tensor on a device torch has a fused kernel for (CPU, CUDA, MPS, ...), else the
multi-tensor (``foreach``) loop: the fused kernel is several times faster, and at batch 1 the update
is a sizeable share of a step (``python benchmarks/profile_step.py``'s optimiser group measures it on
your machine). The kernels agree to fp32 rounding. Which kernel runs is a property of the machine, not of the
run: ``keep_kernel`` puts it back after a checkpoint's ``param_groups`` are loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

_KERNEL_FLAGS = ("fused", "foreach")


def fastest_kernel(params: list[torch.Tensor]) -> dict[str, bool]:
    """``{"fused": True}`` where torch has a fused kernel for every parameter, else ``{"foreach": True}``."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        devices = set(_get_fused_kernels_supported_devices())
    except ImportError:  # a torch without the helper: the portable multi-tensor path
        devices = set()
    if params and all(p.is_floating_point() and p.device.type in devices for p in params):
        return {"fused": True}
    return {"foreach": True}


def adam(params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
         **kwargs: Any) -> torch.optim.Adam:
    """``torch.optim.Adam`` with the fastest update kernel for these parameters."""
    params = list(params)
    return torch.optim.Adam(params, lr=lr, betas=betas, **fastest_kernel(params), **kwargs)


def keep_kernel(opt: torch.optim.Optimizer, groups_before: list[dict[str, Any]]) -> None:
    """After ``load_state_dict``, give each group back the kernel flags it was built with: a
    checkpoint written with the fused kernel may resume where only foreach exists, and the reverse."""
    for group, before in zip(opt.param_groups, groups_before):
        for flag in _KERNEL_FLAGS:
            if flag in before:
                group[flag] = before[flag]
