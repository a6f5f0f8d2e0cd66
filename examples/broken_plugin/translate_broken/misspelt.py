"""A plugin whose author misspelt a hook: ``evalute`` instead of ``evaluate``. Without the
contract check it would load, train, and silently never evaluate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from translate.config import param
from translate.plugin import Plugin


@dataclass
class MisspeltConfig:
    lr: float = param(2e-4, "Adam learning rate")


class MisspeltPlugin(Plugin):
    description = "a plugin with a misspelt hook (evalute)"
    Config = MisspeltConfig

    def build(self, config: MisspeltConfig, options: Any, training: bool = True) -> dict[str, Any]:
        from torch import nn

        return {"generator": nn.Identity()}

    def dataset(self, config: MisspeltConfig, options: Any, data: dict[str, str]) -> Any:
        return []

    def optimizers(self, config: MisspeltConfig, modules: dict[str, Any]) -> dict[str, Any]:
        return {}

    def train_step(self, ctx: Any) -> dict[str, Any]:
        return {}

    def evalute(self, modules: dict[str, Any], config: MisspeltConfig, out_dir: Any) -> dict[str, float]:
        return {"score": 1.0}
