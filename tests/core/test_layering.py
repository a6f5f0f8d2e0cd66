"""The core's shape, checked from its source: no import cycles (beyond the plugin contract and its
registry, which name each other), no built-in plugin named in core code, and one module that
names the files of a run folder.

These read the source with :mod:`ast` (nothing is imported), so they hold for imports inside
functions and ``TYPE_CHECKING`` blocks too."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "translate"

# Plugin names, data flags and metric names that belong to the built-in plugins, not to the core.
BUILTIN_PLUGINS = {"pix2pix", "cyclegan", "srgan", "cut"}
BUILTIN_DATA_FLAGS = {"aligned", "hr", "--aligned", "--hr", "--a", "--b", "eval_a", "eval_b", "eval_hr"}
BUILTIN_METRICS = {"modes", "hq_percent", "reverse_kl", "psnr_y", "ssim_y", "fid_a2b", "fid_b2a", "kid_a2b",
                   "kid_b2a", "high_quality"}
RUN_FILE_NAMES = {"model.safetensors", "state.safetensors", "best.safetensors", "config.toml", "log.jsonl",
                  "metrics.jsonl", "index.html", "curves.png", "samples.png", ".lock"}
RUN_FOLDER_MODULE = "translate.run_folder"
# The data tools check and convert the generic layouts (two folders, A|B images) that the core's data
# readers offer to every plugin; their flags name layouts, not a plugin's data flags.
DATA_LAYOUT_MODULES = ("translate.data", "translate.cli.data_cmd")
# Same-named files that are not in a run folder: `translate sample`'s default output in the working folder,
# the lock beside each file in the download cache.
NOT_RUN_FILES = {("translate.cli.sample", "samples.png"), ("translate.inference", "samples.png"),
                 ("translate.download", ".lock")}


def _modules() -> dict[str, Path]:
    found = {}
    for path in CORE.rglob("*.py"):
        parts = path.relative_to(CORE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    targets: set[str] = set()

    def closest(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rsplit(".", 1)[0] if "." in dotted else ""
        return dotted or None

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(filter(None, (closest(a.name) for a in node.names if a.name.startswith("translate"))))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if not source.startswith("translate"):
                continue
            named = {f"{source}.{a.name}" for a in node.names} & set(modules)
            targets.update(named or filter(None, [closest(source)]))
    targets.discard(name)
    return targets


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module, docstrings left out (help texts and examples may name plugins)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_core_imports_form_no_cycle_beyond_plugin_and_registry():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    allowed = {"translate.plugin", "translate.registry"}
    assert [sorted(c) for c in _cycles(graph) if c != allowed] == []


def test_core_code_names_no_builtin_plugin_data_flag_or_metric():
    banned = BUILTIN_PLUGINS | BUILTIN_DATA_FLAGS | BUILTIN_METRICS
    hits = [f"{path.relative_to(CORE.parent)}:{line}: {text!r}" for name, path in _modules().items()
            if not name.startswith(("translate.scaffold", *DATA_LAYOUT_MODULES))  # scaffold: new plugins' templates
            for line, text in _strings(path) if text in banned]
    assert hits == []


def test_run_folder_file_names_live_in_one_module():
    hits = [f"{path.relative_to(CORE.parent)}:{line}: {text!r}" for name, path in _modules().items()
            if name != RUN_FOLDER_MODULE for line, text in _strings(path)
            if text in RUN_FILE_NAMES and (name, text) not in NOT_RUN_FILES]
    assert (CORE / "run_folder.py").is_file()
    assert hits == []
