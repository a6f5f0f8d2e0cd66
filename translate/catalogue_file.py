"""The catalogue file a plugin ships (its ``catalogue`` attribute): reading and checking it.

A TOML file inside the plugin's package with ``[datasets.NAME]`` and ``[models.NAME]`` tables, the
keys of :data:`KEYS`. :mod:`translate.plugin` checks it when a plugin registers;
:mod:`translate.catalogue` gathers every installed plugin's entries. No torch, no registry here.
"""

from __future__ import annotations

import importlib
import importlib.resources
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import PluginError

KINDS = ("datasets", "models")
# kind → (required keys, optional keys); every value is a string unless named in INTEGER_KEYS / LIST_KEYS
KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "datasets": (("url", "size", "source", "licence", "layout"), ("sha256", "train", "description")),
    "models": (("url", "task", "source", "licence", "size"), ("sha256", "arch", "set", "description")),
}
INTEGER_KEYS = ("size",)
LIST_KEYS = ("set",)


@dataclass(frozen=True)
class Entry:
    """One data set or released model of one plugin's catalogue."""

    plugin: str
    kind: str  # "datasets" or "models"
    name: str
    fields: dict[str, Any] = field(hash=False, compare=False)

    @property
    def qualified(self) -> str:
        return f"{self.plugin}/{self.name}"

    @property
    def url(self) -> str:
        return self.fields["url"]

    @property
    def sha256(self) -> str | None:
        return self.fields.get("sha256")

    @property
    def size(self) -> int:
        return int(self.fields["size"])

    @property
    def file_name(self) -> str:
        """The file's name as the publisher serves it (the URL's last part)."""
        return Path(urlsplit(self.url).path).name

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


# ---- reading one plugin's file ---------------------------------------------------------------------

def catalogue_file(plugin_cls: type) -> Any | None:
    """The Traversable of the plugin's catalogue file (inside its package), or None if it names none."""
    name = getattr(plugin_cls, "catalogue", "") or ""
    if not name:
        return None
    # The file lives beside the class that names it: a subclass elsewhere (a test's variant of a
    # plugin) inherits its parent's catalogue, not a file in its own folder.
    owner = next((cls for cls in plugin_cls.__mro__ if "catalogue" in vars(cls)), plugin_cls)
    module = sys.modules.get(owner.__module__) or importlib.import_module(owner.__module__)
    is_package = getattr(module.__spec__, "submodule_search_locations", None) is not None
    package = module.__name__ if is_package else module.__name__.rpartition(".")[0]
    if not package:  # a top-level single-file module: its folder
        return Path(module.__file__ or ".").parent / name
    return importlib.resources.files(package).joinpath(name)


def read_catalogue(plugin_cls: type) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"datasets": {NAME: keys}, "models": {NAME: keys}}`` of a plugin class (empty without a
    catalogue); a file that does not parse or breaks :data:`KEYS` is a PluginError naming it."""
    problems, tables = _parse(plugin_cls)
    if problems:
        raise PluginError(f"plugin '{getattr(plugin_cls, 'name', '') or plugin_cls.__name__}': "
                          f"{'; '.join(problems)}")
    return tables


def catalogue_problems(plugin_cls: type) -> list[str]:
    """What is wrong with the plugin's catalogue file (empty when it conforms, or there is none)."""
    return _parse(plugin_cls)[0]


def _parse(plugin_cls: type) -> tuple[list[str], dict[str, dict[str, dict[str, Any]]]]:
    empty: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
    name = getattr(plugin_cls, "catalogue", "")
    if not name:
        return [], empty
    if not isinstance(name, str):
        return [f"catalogue is {name!r}; give the name of a TOML file inside the plugin's package"], empty
    try:
        resource = catalogue_file(plugin_cls)
        data = tomllib.loads(resource.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return [f"catalogue {name}: cannot read it ({type(exc).__name__}: {exc})"], empty
    except tomllib.TOMLDecodeError as exc:
        return [f"catalogue {name}: not valid TOML ({exc})"], empty
    problems = [f"catalogue {name}: unknown table [{key}] (use [datasets.NAME] and [models.NAME])"
                for key in data if key not in KINDS]
    tables = {kind: dict(data.get(kind, {})) if isinstance(data.get(kind, {}), dict) else {} for kind in KINDS}
    for kind, entries in tables.items():
        for entry_name, keys in entries.items():
            problems += [f"catalogue {name}: [{kind}.{entry_name}] {p}" for p in _entry_problems(kind, entry_name, keys)]
    return problems, tables


def _entry_problems(kind: str, name: str, keys: Any) -> list[str]:
    if not isinstance(keys, dict):
        return ["is not a table"]
    if "/" in name or not name.strip():
        return ["names must not contain '/' (PLUGIN/NAME is how users qualify them)"]
    required, optional = KEYS[kind]
    problems = [f"lacks '{key}'" for key in required if key not in keys]
    problems += [f"has unknown key '{key}' (known: {', '.join(required + optional)})"
                 for key in keys if key not in required + optional]
    for key, value in keys.items():
        if key in INTEGER_KEYS and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            problems.append(f"'{key}' must be a positive number of bytes")
        elif key in LIST_KEYS and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.append(f"'{key}' must be a list of NAME=VALUE strings")
        elif key not in INTEGER_KEYS + LIST_KEYS and not isinstance(value, str):
            problems.append(f"'{key}' must be a string")
    url = keys.get("url")
    if isinstance(url, str) and urlsplit(url).scheme not in ("http", "https"):
        problems.append(f"url {url!r} is not an http(s) URL")
    digest = keys.get("sha256")
    if isinstance(digest, str) and (len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)):
        problems.append("sha256 must be 64 lower-case hex digits")
    return problems
