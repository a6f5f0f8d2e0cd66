"""``translate plugin new NAME [DIR] [--kind image2image|gan]``: write a small, working plugin package.

The package has the layout of every built-in plugin (docs/plugins.md, "Package layout"): a light
``__init__.py`` (Config dataclass and Plugin class delegating to the modules below, no torch
import), ``networks.py``, ``data.py``, ``training.py``, ``evaluation.py`` and ``reference.py``
(each only where the kind has that work), a pyproject registering the ``translate.plugins`` entry
point, and tests (the conformance checks of ``translate plugin check`` and a quality check). It
installs, trains and applies as written; authors then replace the networks and the steps. Two
kinds:

  image2image  (default) a paired translator: --a inputs and --b targets matched by file name,
               a small U-Net trained with L1 + a PatchGAN (after Isola et al. 2017), apply with
               tiles, export, eval (PSNR/SSIM), import of a U-Net state dict; every file of the
               layout; the toolkit's main kind of plugin.
  gan          an unconditional DCGAN-style GAN: noise in, images out, translate sample.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from ..errors import UserError
from . import gan_templates, image2image_templates

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
KINDS = {"image2image": image2image_templates, "gan": gan_templates}

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "{name}: a plugin for translate"
requires-python = ">=3.10"
dependencies = ["translate-gan>={translate_version}"]

[project.optional-dependencies]
test = ["pytest>=8"]

# translate finds the plugin through this entry point: NAME = "module:PluginClass".
[project.entry-points."translate.plugins"]
{name} = "{package}:{cls}"

[tool.setuptools]
packages = ["{package}"]
'''


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_") if part) + "Plugin"


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name) or keyword.iskeyword(name):
        raise UserError(f"plugin name {name!r}: use lower-case letters, digits and underscores, starting "
                        "with a letter, not a Python keyword (it becomes the 'translate train NAME' "
                        "command and a module name)")
    return name


def write_scaffold(name: str, directory: str | Path | None = None, kind: str = "image2image") -> Path:
    """Write the package for plugin ``name`` into ``directory`` (default ``./translate-NAME``);
    returns the directory. Refuses a directory that exists and is not empty."""
    from .. import __version__

    check_name(name)
    if kind not in KINDS:
        raise UserError(f"--kind {kind}: choose {' or '.join(KINDS)}")
    templates = KINDS[kind]
    root = Path(directory) if directory else Path(f"translate-{name.replace('_', '-')}")
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UserError(f"{root}: already exists and is not empty; choose a new directory")
    package = f"translate_{name}"
    fields = {"name": name, "package": package, "cls": _class_name(name),
              "dist": f"translate-{name.replace('_', '-')}", "translate_version": __version__}
    files = {"pyproject.toml": PYPROJECT, "README.md": templates.README,
             **{f"{package}/{module}.py": text for module, text in templates.MODULES.items()},
             f"tests/test_{name}.py": templates.TEST}
    # Render everything first, so a template error leaves nothing half-written.
    rendered = {rel: text.format(**fields) for rel, text in files.items()}
    for rel, text in rendered.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
