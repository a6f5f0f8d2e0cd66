"""Plugin discovery through the ``translate.plugins`` entry-point group.

Listing reads installed metadata only. A plugin's module is imported when a command needs that
plugin, and an import failure is reported by name without affecting the other plugins, as pytest
does for its plugins. Plugins can be switched off with ``TRANSLATE_DISABLE_PLUGINS=name,name``.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

from .errors import PluginError, UserError

if TYPE_CHECKING:
    from .plugin import Plugin

GROUP = "translate.plugins"
DISABLE_ENV = "TRANSLATE_DISABLE_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    """What the metadata says about one installed plugin, before importing it."""

    name: str
    value: str  # "module:attribute"
    distribution: str
    version: str
    summary: str

    def load(self) -> "Plugin":
        """Import the plugin, check it against the contract and return an instance."""
        from .plugin import validate_plugin

        try:
            target = metadata.EntryPoint(self.name, self.value, GROUP).load()
        except Exception as exc:  # any import error belongs to this plugin only
            raise PluginError(
                f"plugin '{self.name}' (from {self.distribution} {self.version}) failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return validate_plugin(target, self)


def disabled_names() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def discover() -> dict[str, PluginInfo]:
    """All enabled plugins by name. Two distributions claiming one name is an error naming both."""
    found: dict[str, PluginInfo] = {}
    disabled = disabled_names()
    for dist in metadata.distributions():
        dist_name = dist.metadata["Name"] or "?"
        for ep in dist.entry_points:
            if ep.group != GROUP or ep.name in disabled:
                continue
            info = PluginInfo(
                name=ep.name,
                value=ep.value,
                distribution=dist_name,
                version=dist.version or "0",
                summary=dist.metadata["Summary"] or "",
            )
            other = found.get(ep.name)
            # The same distribution can be visible twice on sys.path: that is not a clash.
            if other is not None and (other.distribution, other.value) != (info.distribution, info.value):
                raise PluginError(
                    f"plugin name '{ep.name}' is registered by two distributions: "
                    f"{other.distribution} ({other.value}) and {info.distribution} ({info.value}); "
                    f"uninstall one, or disable it with {DISABLE_ENV}"
                )
            found[ep.name] = info
    return dict(sorted(found.items()))


def get_info(name: str) -> PluginInfo:
    plugins = discover()
    if name in plugins:
        return plugins[name]
    if name in disabled_names():
        raise UserError(f"plugin '{name}' is disabled by {DISABLE_ENV}; remove it from that variable")
    installed = ", ".join(plugins) or "none"
    close = difflib.get_close_matches(name, list(plugins), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UserError(f"unknown plugin '{name}' (installed: {installed}){hint}")


def load_plugin(name: str) -> "Plugin":
    """Import and validate one plugin by name."""
    return get_info(name).load()
