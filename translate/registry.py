"""Plugin discovery through the ``translate.plugins`` entry-point group.

Listing reads installed metadata only. A plugin's module is imported when a command needs that
plugin, and an import failure is reported by name without affecting the other plugins, as pytest
does for its plugins. Plugins can be switched off with ``TRANSLATE_DISABLE_PLUGINS=name,name``.
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

from .errors import PluginError, UserError

if TYPE_CHECKING:
    from .plugin import Plugin

GROUP = "translate.plugins"
DISABLE_ENV = "TRANSLATE_DISABLE_PLUGINS"
BUILTIN_DISTRIBUTION = "translate-gan"  # the distribution that ships the built-in plugins


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
        from .stopping import CtrlCWatch

        if not metadata.EntryPoint.pattern.match(self.value) or ":" not in self.value:
            raise self._failed(f"its entry point '{self.value}' is not 'package.module:PluginClass'")
        try:
            with CtrlCWatch() as watch:
                target = metadata.EntryPoint(self.name, self.value, GROUP).load()
        except KeyboardInterrupt as exc:
            if watch.is_real(exc):
                raise  # the user's Ctrl-C stops the command, whichever plugin was importing
            raise self._failed("raised KeyboardInterrupt (no Ctrl-C was pressed)") from None
        except SystemExit as exc:  # exit() in a plugin's module must not end the command
            raise self._failed(f"called exit({exc.code!r})") from None
        except Exception as exc:  # any import error belongs to this plugin only
            raise self._failed(f"{type(exc).__name__}: {exc}") from exc
        return validate_plugin(target, self)

    def _failed(self, what: str) -> PluginError:
        return PluginError(f"plugin '{self.name}' (from {self.distribution} {self.version}) failed to import: {what}")


def disabled_names() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def registered_names() -> set[str]:
    """Every plugin name some installed distribution registers, disabled ones included (to tell a
    misspelt name in the disable list from a real one)."""
    return {ep.name for dist in metadata.distributions() for ep in dist.entry_points if ep.group == GROUP}


@dataclass(frozen=True)
class Discovery:
    """Every enabled plugin by name, and the names that two distributions claim."""

    plugins: dict[str, PluginInfo]
    clashes: dict[str, tuple[PluginInfo, ...]]  # unusable names: neither claimant is built in
    shadowed: dict[str, tuple[PluginInfo, ...]]  # built-in names another distribution also claims


def scan() -> Discovery:
    """Read the entry points. One distribution visible twice on sys.path is not a clash. When a
    third party claims a built-in name, the built-in is kept (and the other reported); when two
    third parties claim one name, that name alone is unusable and every other plugin works."""
    claims: dict[str, list[PluginInfo]] = {}
    disabled = disabled_names()
    for dist in metadata.distributions():
        dist_name = dist.metadata["Name"] or "?"
        for ep in dist.entry_points:
            if ep.group != GROUP or ep.name in disabled:
                continue
            info = PluginInfo(name=ep.name, value=ep.value, distribution=dist_name,
                              version=dist.version or "0", summary=dist.metadata["Summary"] or "")
            same = [(i.distribution, i.value) for i in claims.get(ep.name, [])]
            if (info.distribution, info.value) not in same:
                claims.setdefault(ep.name, []).append(info)
    plugins, clashes, shadowed = {}, {}, {}
    for name, infos in sorted(claims.items()):
        builtin = [i for i in infos if i.distribution == BUILTIN_DISTRIBUTION]
        if len(infos) == 1:
            plugins[name] = infos[0]
        elif builtin:
            plugins[name] = builtin[0]
            shadowed[name] = tuple(i for i in infos if i is not builtin[0])
        else:
            clashes[name] = tuple(infos)
    return Discovery(plugins, clashes, shadowed)


def clash_message(name: str, infos: tuple[PluginInfo, ...]) -> str:
    claimants = " and ".join(f"{i.distribution} ({i.value})" for i in infos)
    return (f"plugin name '{name}' is registered by two distributions: {claimants}; uninstall one, or "
            f"disable the name with {DISABLE_ENV}")


_warned: set[str] = set()


def discover() -> dict[str, PluginInfo]:
    """All usable plugins by name (see :func:`scan`); a third party shadowed by a built-in name is
    reported once on stderr."""
    found = scan()
    for name, others in found.shadowed.items():
        if name not in _warned:
            _warned.add(name)
            who = ", ".join(f"{i.distribution} ({i.value})" for i in others)
            print(f"warning: {who} also registers the built-in plugin name '{name}'; the built-in is used "
                  "(rename that plugin's entry point)", file=sys.stderr)
    return found.plugins


def get_info(name: str) -> PluginInfo:
    plugins = discover()
    if name in plugins:
        return plugins[name]
    clashing = scan().clashes
    if name in clashing:
        raise PluginError(clash_message(name, clashing[name]))
    if name in disabled_names():
        raise UserError(f"plugin '{name}' is disabled by {DISABLE_ENV}; remove it from that variable")
    installed = ", ".join(plugins) or "none"
    close = difflib.get_close_matches(name, list(plugins), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UserError(f"unknown plugin '{name}' (installed: {installed}){hint}")


def load_plugin(name: str) -> "Plugin":
    """Import and validate one plugin by name."""
    return get_info(name).load()
