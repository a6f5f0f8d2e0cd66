"""Data sets and released models by name: ``translate data get NAME``, ``translate models`` and a
model name wherever a checkpoint is taken (``translate apply horse2zebra photo.jpg``).

The catalogue is data, not code: each plugin may ship a TOML file inside its package and name it
in its ``catalogue`` attribute (see docs/plugins.md). The built-in plugins do exactly what a third
party does, and this module names none of them. A file holds ``[datasets.NAME]`` and
``[models.NAME]`` tables (:mod:`translate.catalogue_file` reads and checks it).

A bare name that two plugins define (e.g. one plugin's unpaired ``facades`` and another's aligned
one) is ambiguous and answered with both qualified names; ``PLUGIN/NAME`` always works.

Downloads go through :mod:`translate.download` (cache, resume, checksums, mirror, offline). A model
is downloaded once into ``cache_dir()/models/PLUGIN/NAME/`` and imported there by the existing
importer (:mod:`translate.importing`) into ``model.safetensors``; it is imported again only when
the downloaded file's sha256 differs from the one the import recorded.

Nothing here imports torch at import time: ``translate models`` and ``translate data list`` are
instant.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from .catalogue_file import Entry, read_catalogue
from .errors import PluginError, UserError
from .run_folder import MODEL_FILE

# ---- every installed plugin's entries ------------------------------------------------------------------

_warned: set[str] = set()


def entries(kind: str) -> list[Entry]:
    """Every entry of ``kind`` from every installed plugin, in plugin then file order. A plugin
    that fails to import (or whose catalogue is broken) is skipped with one warning naming it."""
    from .registry import discover

    found: list[Entry] = []
    for info in discover().values():
        try:
            plugin = info.load()
            tables = read_catalogue(type(plugin))
        except PluginError as exc:
            if info.name not in _warned:
                _warned.add(info.name)
                print(f"warning: skipping plugin '{info.name}' ({exc}); 'translate plugins' shows the problem",
                      file=sys.stderr)
            continue
        found += [Entry(info.name, kind, name, keys) for name, keys in tables[kind].items()]
    return found


def find(kind: str, text: str) -> Entry | None:
    """The entry ``text`` names (``NAME`` or ``PLUGIN/NAME``), None when no plugin defines it; a
    bare name that several plugins define is a one-line error listing the qualified names."""
    known = entries(kind)
    plugin, sep, name = text.partition("/")
    if sep:
        return next((e for e in known if e.plugin == plugin and e.name == name), None)
    matches = [e for e in known if e.name == text]
    if len(matches) > 1:
        names = ", ".join(e.qualified for e in matches)
        raise UserError(f"'{text}' is defined by several plugins: {names}; give one of these names")
    return matches[0] if matches else None


def require(kind: str, text: str) -> Entry:
    """:func:`find`, or a one-line error with the names that are known."""
    entry = find(kind, text)
    if entry is None:
        command = "translate data list" if kind == "datasets" else "translate models"
        close = _close_names(kind, text)
        hint = f"; did you mean {close}?" if close else ""
        noun = "data set" if kind == "datasets" else "released model"
        raise UserError(f"'{text}': no installed plugin knows a {noun} of that name{hint} ('{command}' lists them)")
    return entry


def _close_names(kind: str, text: str) -> str:
    import difflib

    names = sorted({e.name for e in entries(kind)} | {e.qualified for e in entries(kind)})
    close = difflib.get_close_matches(text, names, n=1)
    return f"'{close[0]}'" if close else ""


def display_name(entry: Entry, all_entries: list[Entry]) -> str:
    """The bare name when it is unique among ``all_entries``, else ``PLUGIN/NAME``."""
    return entry.name if sum(e.name == entry.name for e in all_entries) == 1 else entry.qualified


def human_size(size: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


# ---- released models --------------------------------------------------------------------------------

def model_folder(entry: Entry) -> Path:
    from .download import cache_dir

    return cache_dir() / "models" / entry.plugin / entry.name


def cached_model(entry: Entry) -> Path | None:
    """The imported checkpoint of ``entry`` if the cache holds one."""
    path = model_folder(entry) / MODEL_FILE
    return path if path.is_file() else None


def resolve_checkpoint(text: str | os.PathLike) -> Path:
    """What a command that takes a checkpoint should load: an existing path wins; else a released
    model's name (``translate models``) is downloaded and imported into the cache, and the cached
    ``model.safetensors`` is returned; else one line saying neither exists."""
    path = Path(text)
    if path.exists() or not str(text):
        return path
    entry = find("models", str(text))
    if entry is None:
        raise UserError(f"{text}: no such checkpoint file or folder, and no released model of that name; pass a "
                        f"run folder or its {MODEL_FILE}, or a name that 'translate models' lists")
    return ensure_model(entry)


def ensure_model(entry: Entry, *, offline: bool | None = None, progress: bool = True) -> Path:
    """The cached checkpoint of ``entry``: the publisher's file fetched (or found) in the cache, then
    imported unless the cached import was made from a file with the same sha256."""
    from .download import fetch

    folder = model_folder(entry)
    source = fetch(entry.url, folder / entry.file_name, sha256=entry.sha256, offline=offline, progress=progress,
                   what=f"released model '{entry.qualified}'")
    target = folder / MODEL_FILE
    from .download import verified_sha256

    digest = verified_sha256(source, entry.sha256)  # fetch checked it: no second read of the file
    if target.is_file() and _imported_from(target) == digest:
        return target
    return import_model(entry, source, target)


def _imported_from(checkpoint: Path) -> str | None:
    """The sha256 of the file a cached import was made from (None if unreadable)."""
    from safetensors import safe_open

    try:
        with safe_open(str(checkpoint), framework="pt") as f:
            return json.loads((f.metadata() or {}).get("import", "{}")).get("sha256")
    except Exception:  # noqa: BLE001 - any damaged cache file is simply imported again
        return None


def import_model(entry: Entry, source: Path, target: Path) -> Path:
    """Run the importer on the publisher's file with the catalogue's settings (atomic write)."""
    import time

    from .importing import import_weights

    started = time.perf_counter()
    try:
        result = import_weights(source, target, plugin=entry.plugin, arch=entry.get("arch"),
                                settings=tuple(entry.get("set", ())))
    except UserError as exc:
        raise UserError(f"released model '{entry.qualified}' ({source}) did not import: {exc}") from None
    print(f"imported {entry.qualified}: {result.layout} → {target} ({time.perf_counter() - started:.1f} s)",
          file=sys.stderr)
    return result.out


# ---- data sets ---------------------------------------------------------------------------------------

def dataset_archive(entry: Entry) -> Path:
    from .download import cache_dir

    return cache_dir() / "datasets" / entry.plugin / entry.file_name


def default_folder(entry: Entry) -> Path:
    return Path("data") / entry.name


def next_command(entry: Entry, folder: Path) -> str | None:
    """The catalogue's ``train`` template with the real folder filled in."""
    template = entry.get("train")
    return template.replace("{dir}", _shell_path(folder)) if template else None


def _shell_path(folder: Path) -> str:
    import shlex

    return shlex.quote(str(folder))


def get_dataset(entry: Entry, out: Path | None = None, *, overwrite: bool = False, offline: bool | None = None,
                progress: bool = True) -> Path:
    """Download ``entry`` (or find it in the cache) and unpack it safely into ``out`` (default
    data/NAME), laid out as the publisher's archive is (its single top folder becomes ``out``).
    An existing non-empty ``out`` is refused unless ``overwrite``."""
    from .download import fetch

    out = Path(out) if out is not None else default_folder(entry)
    check_target(out, overwrite)  # before a download of minutes
    archive = fetch(entry.url, dataset_archive(entry), sha256=entry.sha256, offline=offline, progress=progress,
                    what=f"data set '{entry.qualified}'")
    unpack_into(archive, out, entry.size, overwrite)
    return out


def check_target(out: Path, overwrite: bool) -> None:
    if out.is_file() or out.is_symlink():
        raise UserError(f"-o {out}: is a file; give a folder to unpack into")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"-o {out}: the folder exists and is not empty; pass --overwrite to replace it, or another -o")


def unpack_into(archive: Path, out: Path, size: int, overwrite: bool) -> None:
    """Unpack safely (:func:`translate.archive.unpack`) beside ``out``, then move into place: an
    interrupted unpack never leaves a half-filled ``out``. An archive holding one top folder (as
    the publishers' do) gives that folder's content."""
    import tempfile

    from .archive import unpack
    from .download import cache_dir, locked

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        # Images barely compress: a few times the archive's size is generous, and still caps a bomb.
        unpack(archive, work / "unpacked", max_bytes=max(4 * size, 1 << 30))
        root = work / "unpacked"
        children = list(root.iterdir())
        if len(children) == 1 and children[0].is_dir() and not children[0].is_symlink():
            root = children[0]
        # One process at a time places a folder: a second `data get` into the same -o that lost the
        # race is refused by the same check as before its download (or replaces it with --overwrite).
        folder_key = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
        with locked(cache_dir() / "locks" / f"unpack-{folder_key}"):
            check_target(out, overwrite)
            if out.exists():  # empty, or --overwrite
                os.replace(out, work / "old")
            os.replace(root, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def dataset_status(entry: Entry) -> str:
    """'here: data/NAME', 'cached' (the archive is in the cache) or '-'."""
    folder = default_folder(entry)
    if folder.is_dir() and any(folder.iterdir()):
        return f"here: {folder}"
    return "cached" if dataset_archive(entry).is_file() else "-"
