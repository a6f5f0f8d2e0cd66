"""Hostile-input sweep: run folders received from others, model files from the internet, archives
served by a loopback mirror, and concurrent commands on one folder. Each case runs
``python -m translate ...`` (or a few lines of the Python API) in a fresh child and records its exit
code, whether it ended with one "Error:" line, a traceback or success, the child's peak RSS, the
wall time (a case past its timeout is a hang), and whether anything was written outside the case's
own folder (sentinel files that crafted links point at, checked by bytes and mtime; the whole work
tree listed before and after) or left half-written inside it (*.tmp, *.part ...).

    python benchmarks/hostile_sweep.py [--only TEXT] [--list] [--keep DIR]

A case passes when it has its expected outcome (one Error line, success, or either without a
traceback), loses no file it must keep, writes nothing outside its folder, stays under 2 GB of
RSS and ends in time. Children run under RLIMIT_DATA = 3 GB, so a memory regression fails the case
instead of swapping the machine. Exit status 0 when every case passes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_sweep import TINY, Case, images, judge

REPO = Path(__file__).resolve().parents[1]
RSS_LIMIT_MB = 2048  # what a case may use (the issue's bound)
DATA_LIMIT = 3 << 30  # RLIMIT_DATA of every child: a regression fails, it cannot swap the machine
SENTINEL = b"sentinel: nothing may write here\n"
HALF_WRITTEN = (".tmp", ".part", ".partial", ".unpacking", ".old")
H2Z_ZIP = "/cyclegan/datasets/horse2zebra.zip"  # catalogue paths, served by the loopback mirror
H2Z_PTH = "/cyclegan/pretrained_models/horse2zebra.pth"


@dataclass
class Hostile(Case):
    """A sweep case. ``build(ctx)`` makes its files in ``ctx.dir`` and returns the command's
    arguments (after ``python -m translate``, or after ``python`` when ``python`` is set)."""

    area: str = ""  # "issue" (a listed case) or one of the four new areas
    build: Callable[[Ctx], list[str]] | None = None
    python: bool = False
    timeout: float = 150
    not_contains: str = ""  # text the output must not contain
    max_line: int = 0  # the longest output line allowed (0: any)


class Ctx:
    """What a case's ``build`` gets: its folder, the shared fixtures, and ways to declare what the
    runner checks (files to keep, commands run alongside, a signal, limits)."""

    def __init__(self, folder: Path, fx: Fixtures):
        self.dir, self.fx = folder, fx
        self.env: dict[str, str] = {}
        self.kept: dict[Path, str] = {}
        self.alongside: list[tuple[list[str], float]] = []  # (argv after python -m translate, delay s)
        self.send: tuple[int, Callable[[], bool], float] | None = None  # signal, when, seconds to exit after it
        self.fsize: int | None = None  # RLIMIT_FSIZE of the main command (a disk that fills)
        self.user: int | None = None  # run the main command as this uid (read-only folders under root)
        self.allow_leftovers = False
        self.immutable: list[Path] = []  # folders made read-only with chattr +i, undone after the case
        self.after: list[Callable[[], str | None]] = []  # checks after the run: a complaint or None
        self.alongside_expect = "any"  # what each command run alongside must end with

    def keep(self, *paths: Path) -> None:
        for path in paths:
            self.kept[Path(path)] = digest(Path(path))

    def also(self, args: list[str], delay: float = 0.0) -> None:
        self.alongside.append(([str(a) for a in args], delay))

    def signal_when(self, sig: int, when: Callable[[], bool], grace: float) -> None:
        self.send = (sig, when, grace)

    def copy_run(self, source: Path, name: str = "run") -> Path:
        target = self.dir / name
        shutil.copytree(source, target, symlinks=True)
        return target


def digest(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    if path.is_dir():
        return "dir:" + ",".join(sorted(f"{p.relative_to(path)}={digest(p)}" for p in path.rglob("*") if p.is_file()))
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


def py(code: str) -> list[str]:
    return ["-c", textwrap.dedent(code)]


# ---- fixtures, built on first use (so --only builds only what its cases need) ----------------------

def translate(*args: str, cwd: Path | None = None) -> None:
    proc = subprocess.run([sys.executable, "-m", "translate", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, check=False)
    if proc.returncode:
        raise SystemExit(f"fixture failed: translate {' '.join(map(str, args))}\n{proc.stdout}{proc.stderr}")


class Fixtures:
    def __init__(self, root: Path, server):
        self.root, self.server = root, server
        root.mkdir(parents=True, exist_ok=True)

    @cached_property
    def outside(self) -> Path:
        """A folder outside every case; its files are what crafted links point at."""
        folder = self.root / "outside"
        folder.mkdir()
        for name in ("sentinel.txt", "victim.safetensors", "victim.jsonl"):
            (folder / name).write_bytes(SENTINEL)
        (folder / "dir").mkdir()
        (folder / "dir" / "inside.txt").write_bytes(SENTINEL)
        return folder

    @property
    def sentinel(self) -> Path:
        return self.outside / "sentinel.txt"

    @cached_property
    def data(self) -> Path:
        return images(self.root / "data", 6)

    @cached_property
    def photo(self) -> Path:
        return images(self.root / "photo", 1, size=32) / "00.png"

    @cached_property
    def gan_run(self) -> Path:
        out = self.root / "gan-run"
        translate("train", "gan", "--data", "shapes", "--steps", "2", *TINY, "--out", out)
        return out

    @cached_property
    def gan_eval_run(self) -> Path:
        """A run that evaluated (eval/, metrics.jsonl, best.safetensors) at 16 px."""
        out = self.root / "gan-eval-run"
        translate("train", "gan", "--data", "shapes", "--steps", "1", *TINY, "--eval-every", "1",
                  "--eval-images", "8", "--out", out)
        return out

    @cached_property
    def cg_run(self) -> Path:
        out = self.root / "cg-run"
        translate("train", "cyclegan", "--a", self.data, "--b", "shapes", "--steps", "1", "--size", "24",
                  "--gen-features", "4", "--disc-features", "4", "--n-blocks", "1", "--out", out)
        return out

    @cached_property
    def cg_pt(self) -> Path:
        out = self.root / "cg.pt"
        translate("export", self.cg_run, "-o", out, "--no-check")
        return out

    @cached_property
    def cg_meta(self) -> dict:
        with zipfile.ZipFile(self.cg_pt) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/extra/translate.json"))
            return json.loads(archive.read(name))

    @cached_property
    def resnet_pth(self) -> Path:
        """A reference-format CycleGAN generator .pth (tiny)."""
        import torch

        sys.path.insert(0, str(REPO / "tests" / "core"))
        from test_weights import JResnetGenerator, j_norm, randomise

        torch.manual_seed(1)
        path = self.root / "resnet.pth"
        torch.save(randomise(JResnetGenerator(3, 3, 8, 3, j_norm("instance"))).state_dict(), path)
        return path


# ---- crafted files --------------------------------------------------------------------------------

def safetensors_with(source: Path, path: Path, meta_changes: dict | None = None, tensors=None) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(source), "pt") as f:
        meta = dict(f.metadata() or {})
    meta.update(meta_changes or {})
    save_file(tensors if tensors is not None else load_file(str(source)), str(path), metadata=meta)
    return path


def raw_safetensors(path: Path, header: dict | bytes, data: bytes = b"", length: int | None = None) -> Path:
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes((len(body) if length is None else length).to_bytes(8, "little") + body + data)
    return path


def torchscript_file(path: Path, meta: dict | list | bytes | None, forward: tuple[str, ...] = ("return x",)) -> Path:
    """A TorchScript .pt whose forward runs the lines ``forward`` and whose translate.json is ``meta``."""
    import torch

    source = torchscript_source(list(forward))
    module_file = path.with_suffix(".py")
    module_file.write_text(source)
    namespace: dict = {}
    exec(compile(source, str(module_file), "exec"), namespace)  # noqa: S102 - our own source, from a file TorchScript can read
    extra = {} if meta is None else {"translate.json": meta if isinstance(meta, bytes) else json.dumps(meta)}
    with warnings_off():  # torch's deprecation notes about TorchScript, which is what this file must be
        torch.jit.save(torch.jit.script(namespace["M"]()), str(path), _extra_files=extra)
    module_file.unlink()
    return path


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED, links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return buffer.getvalue()


def tar_bytes(members: list, mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                archive.addfile(info, io.BytesIO(member[1]))
    return buffer.getvalue()


def folder_info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


def link_info(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def png_bytes(size: int = 24, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def reference_set() -> dict[str, bytes]:
    """A tiny data set in the CycleGAN authors' layout (one top folder)."""
    return {f"horse2zebra/{part}/{i}.png": png_bytes(16, i) for part in ("trainA", "trainB", "testA", "testB")
            for i in range(2)}


def pickle_with_code(path: Path, marker: Path, legacy: bool = False) -> Path:
    """A .pth that opens ``marker`` for writing when an ordinary unpickler loads it."""
    import torch

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"state_dict": Payload()}, path, _use_new_zipfile_serialization=not legacy)
    return path


def plugin_site(folder: Path, body: str, name: str = "hostileplug") -> Path:
    """A folder for PYTHONPATH holding module ``name`` and an installed-distribution record that
    registers its ``Plugin`` class under translate's entry point group."""
    site = folder / "site"
    (site / f"{name}-0.1.dist-info").mkdir(parents=True)
    (site / f"{name}.py").write_text(textwrap.dedent(body))
    (site / f"{name}-0.1.dist-info" / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (site / f"{name}-0.1.dist-info" / "entry_points.txt").write_text(
        f"[translate.plugins]\n{name} = {name}:Plugin\n")
    return site



def torchscript_source(forward: list[str]) -> str:
    body = "\n".join(" " * 8 + line for line in forward)
    return f"import torch\n\nclass M(torch.nn.Module):\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n{body}\n"


API_WRAPPER = """import sys, traceback
import numpy as np
import translate
from translate.errors import UserError
try:
{code}
except Exception as exc:
    where = traceback.extract_tb(exc.__traceback__)[-1].filename
    if isinstance(exc, UserError) or (isinstance(exc, (ValueError, TypeError)) and "/translate/" in where):
        print("Error:", " ".join(str(exc).split())[:300])
        sys.exit(1)
    raise
"""


def api(code: str) -> list[str]:
    """Python that uses the API; a UserError (or a ValueError/TypeError raised by translate's own
    code on purpose) is reported as one Error line, anything else is a traceback."""
    return ["-c", API_WRAPPER.format(code=textwrap.indent(textwrap.dedent(code).strip(), "    "))]


def write_ro(ctx: Ctx, name: str) -> Path:
    """A folder nothing may be created in, even by root (the immutable attribute)."""
    folder = ctx.dir / name
    folder.mkdir()
    subprocess.run(["chattr", "+i", str(folder)], check=True)
    ctx.immutable.append(folder)
    return folder


def aligned_folder(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (24, 48, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def resume(run: Path, steps: int = 4, *more: str) -> list[str]:
    return ["train", "gan", "--resume", str(run), "--steps", str(steps), *more]


# ---- the listed cases, one each (numbered as they are listed) ---------------------------------------

def _i01_torchscript_writes_a_file(ctx: Ctx) -> list[str]:
    victim = ctx.fx.sentinel
    pt = torchscript_file(ctx.dir / "model.pt", ctx.fx.cg_meta, (
        f"torch.from_file({str(victim)!r}, shared=True, size=8, dtype=torch.uint8).fill_(88)", "return x"))
    return ["apply", pt, ctx.fx.photo, "-o", ctx.dir / "out.png"]


def _link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


def _i02_lock_link_resume(ctx: Ctx) -> list[str]:
    run = ctx.copy_run(ctx.fx.gan_run)
    _link(run / ".lock", ctx.fx.sentinel)
    return resume(run)


def _i02_lock_link_new_out(ctx: Ctx) -> list[str]:
    out = ctx.dir / "run"
    out.mkdir()
    _link(out / ".lock", ctx.fx.sentinel)
    return ["train", "gan", "--data", "shapes", "--steps", "1", *TINY, "--out", out]


def _i03_log_link(ctx: Ctx) -> list[str]:
    run = ctx.copy_run(ctx.fx.gan_run)
    _link(run / "log.jsonl", ctx.fx.outside / "victim.jsonl")
    return resume(run)


def _i03_metrics_link(ctx: Ctx) -> list[str]:
    run = ctx.copy_run(ctx.fx.gan_eval_run)
    _link(run / "metrics.jsonl", ctx.fx.outside / "victim.jsonl")
    return resume(run, 2)


def _compare_big(side: int):
    def build(ctx: Ctx) -> list[str]:
        for name in ("real", "fake"):
            (ctx.dir / name).mkdir()
        Image.new("RGB", (side, side), (120, 30, 60)).save(ctx.dir / "real" / "x.png")
        Image.new("RGB", (40, 40), (120, 30, 60)).save(ctx.dir / "fake" / "x.png")
        return ["compare", ctx.dir / "real", ctx.dir / "fake", "--no-fid", "--no-lpips", "--device", "cpu"]
    return build


def _stride0_rrdb(ctx: Ctx, features: int = 2048, blocks: int = 1) -> Path:
    import torch
    from translate_plugins.srgan.networks import RRDBNet

    with torch.device("meta"):
        shapes = {k: v.shape for k, v in RRDBNet(4, n_blocks=blocks, features=features, growth=32).state_dict().items()}
    path = ctx.dir / f"RealESRGAN_x4plus_{features}x{blocks}.pth"
    torch.save({"params_ema": {k: torch.zeros(1).expand(s) for k, s in shapes.items()}}, path)
    return path


def _i05_stride0_import(ctx: Ctx) -> list[str]:
    return ["import", _stride0_rrdb(ctx), "-o", ctx.dir / "out.safetensors"]


def _inflating_pt(ctx: Ctx, megabytes: int = 400) -> Path:
    """cg.pt with its translate.json replaced by valid JSON that inflates to ``megabytes`` MB."""
    path = ctx.dir / "inflating.pt"
    with zipfile.ZipFile(ctx.fx.cg_pt) as source:
        members = {i.filename: source.read(i) for i in source.infolist()}
    with zipfile.ZipFile(path, "w") as out:
        for name, data in members.items():
            if name.endswith("/extra/translate.json"):
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                with out.open(info, "w") as member:
                    member.write(json.dumps(ctx.fx.cg_meta)[:-1].encode())
                    block = b" " * (1 << 20)
                    for _ in range(megabytes):
                        member.write(block)
                    member.write(b"}")
            else:
                out.writestr(zipfile.ZipInfo(name), data)
    return path


def _exported_meta(ctx: Ctx, meta) -> Path:
    return torchscript_file(ctx.dir / "edited.pt", meta)


def _meta_case(change: Callable[[dict], object]):
    def build(ctx: Ctx) -> list[str]:
        meta = dict(ctx.fx.cg_meta)
        pt = _exported_meta(ctx, change(meta))
        return ["apply", pt, ctx.fx.photo, "-o", ctx.dir / "out.png", "--trust-code"]
    return build


def _without(key: str):
    return lambda meta: {k: v for k, v in meta.items() if k != key}


def _with(**changes):
    return lambda meta: {**meta, **changes}


def _i08_import_over_checkpoint(ctx: Ctx) -> list[str]:
    target = ctx.dir / "existing.safetensors"
    shutil.copy(ctx.fx.gan_run / "model.safetensors", target)
    ctx.keep(target)
    return ["import", ctx.fx.resnet_pth, "-o", target]


def _i08_import_over_folder(ctx: Ctx) -> list[str]:
    folder = ctx.dir / "someones-model"
    folder.mkdir()
    shutil.copy(ctx.fx.gan_run / "model.safetensors", folder / "model.safetensors")
    shutil.copy(ctx.fx.gan_run / "config.toml", folder / "config.toml")
    ctx.keep(folder)
    return ["import", ctx.fx.resnet_pth, "-o", folder]


def _i09_split_into_itself(ctx: Ctx) -> list[str]:
    al = aligned_folder(ctx.dir / "al")
    ctx.keep(al)
    return ["data", "split", al, "-o", al]


def _i09_pair_into_input(ctx: Ctx) -> list[str]:
    for part in ("A", "B"):
        images(ctx.dir / "al" / part, 3)
    ctx.keep(ctx.dir / "al")
    return ["data", "pair", ctx.dir / "al/A", ctx.dir / "al/B", "-o", ctx.dir / "al/A", "--overwrite"]


def _i10_disk_full(ctx: Ctx) -> list[str]:
    run = ctx.copy_run(ctx.fx.gan_run)
    ctx.keep(run / "state.safetensors")
    ctx.fsize = (run / "state.safetensors").stat().st_size // 2  # any bigger file fails: EFBIG, as a full disk
    return resume(run, 3, "--checkpoint-every", "1")


def _i12_modules_list_of_int(ctx: Ctx) -> list[str]:
    path = safetensors_with(ctx.fx.gan_run / "model.safetensors", ctx.dir / "m.safetensors", {"modules": "[1]"})
    return ["sample", path, "-n", "4", "-o", ctx.dir / "s.png"]


def _i13(command: str, where: str):
    def build(ctx: Ctx) -> list[str]:
        if where == "file":
            (ctx.dir / "a-file").write_text("x")
            out = ctx.dir / "a-file" / ("x.safetensors" if command == "import" else "x.pt")
        else:
            out = write_ro(ctx, "read-only") / ("x.safetensors" if command == "import" else "x.pt")
        if command == "import":
            return ["import", ctx.fx.resnet_pth, "-o", out]
        return ["export", ctx.fx.cg_run, "-o", out, "--no-check"]
    return build


HANGING_PLUGIN = """
    import time
    from translate_plugins.gan import GanPlugin

    class Plugin(GanPlugin):
        name = "hostileplug"

        def sample(self, *args, **kwargs):
            time.sleep(10 ** 6)  # a hook that never returns
    """


def _i15_check_hangs(ctx: Ctx) -> list[str]:
    ctx.env["PYTHONPATH"] = str(plugin_site(ctx.dir, HANGING_PLUGIN))
    return ["plugin", "check", "hostileplug:Plugin"]


def _i16_sigterm_in_eval(ctx: Ctx) -> list[str]:
    run = ctx.dir / "run"
    ctx.signal_when(signal.SIGTERM, lambda: (run / "log.jsonl").exists(), grace=15)
    return ["train", "gan", "--data", "shapes", "--steps", "100000", *TINY, "--log-every", "1", "--eval-every", "1",
            "--eval-images", "64", "--out", run]


def _i17_killed_after_eval(ctx: Ctx) -> list[str]:
    out = ctx.dir / "run"
    out.mkdir()
    shutil.copytree(ctx.fx.gan_eval_run / "eval", out / "eval")
    for name in ("metrics.jsonl", "best.safetensors", "config.toml", "log.jsonl"):
        if (ctx.fx.gan_eval_run / name).exists():
            shutil.copy(ctx.fx.gan_eval_run / name, out / name)
    return ["train", "gan", "--data", "shapes", "--steps", "1", *TINY, "--out", out]


def _raising_plugin(what: str) -> str:
    return f"""
    raise {what}
    class Plugin:
        pass
    """


def _i18(what: str, command: str):
    def build(ctx: Ctx) -> list[str]:
        ctx.env["PYTHONPATH"] = str(plugin_site(ctx.dir, _raising_plugin(what)))
        if command == "plugins":
            return ["plugins"]
        return ["import", ctx.fx.resnet_pth, "-o", ctx.dir / "out.safetensors"]
    return build


def _i18_check_systemexit0(ctx: Ctx) -> list[str]:
    ctx.env["PYTHONPATH"] = str(plugin_site(ctx.dir, """
        from translate_plugins.gan import GanPlugin

        class Plugin(GanPlugin):
            name = "hostileplug"

            def sample(self, *args, **kwargs):
                raise SystemExit(0)
        """))
    return ["plugin", "check", "hostileplug:Plugin"]


def _i19_pickle(ctx: Ctx) -> list[str]:
    return ["import", pickle_with_code(ctx.dir / "net.pth", ctx.fx.outside / "pickle-ran.txt"), "-o",
            ctx.dir / "out.safetensors"]


def _i20_int_weights(ctx: Ctx) -> list[str]:
    import torch
    from safetensors.torch import load_file

    tensors = {k: (v.view(torch.int32) if v.dtype == torch.float32 else v)
               for k, v in load_file(str(ctx.fx.gan_run / "model.safetensors")).items()}
    path = safetensors_with(ctx.fx.gan_run / "model.safetensors", ctx.dir / "int.safetensors", tensors=tensors)
    return ["sample", path, "-n", "4", "-o", ctx.dir / "s.png"]


def _train_tiny(ctx: Ctx, *more) -> list[str]:
    return ["train", "gan", "--data", "shapes", "--steps", "1", *TINY, "--out", ctx.dir / "run", *map(str, more)]


def _i21_over_cap(ctx: Ctx) -> list[str]:
    ctx.env["TRANSLATE_MAX_PIXELS"] = "100"
    for name in ("real", "fake"):
        images(ctx.dir / name, 1)
    return ["compare", ctx.dir / "real", ctx.dir / "fake", "--no-fid", "--no-lpips", "--device", "cpu"]


def _i21_import_dir(ctx: Ctx) -> list[str]:
    (ctx.dir / "weights").mkdir()
    return ["import", ctx.dir / "weights", "-o", ctx.dir / "out.safetensors"]


def _i21_duplicates(ctx: Ctx) -> list[str]:
    folder = ctx.dir / "dups"
    folder.mkdir()
    png = png_bytes(4)
    for i in range(3000):
        (folder / f"img_{i:05d}.png").write_bytes(png)
    return ["data", "check", folder]


def issue_cases() -> list[Hostile]:
    load_gan = "m = translate.load(%r, device='cpu'%s)"
    cases = [
        Hostile("01 apply: TorchScript .pt that writes a file", [], "error", build=_i01_torchscript_writes_a_file),
        Hostile("02 resume: .lock is a link out of the run", [], "any", build=_i02_lock_link_resume),
        Hostile("02 train --out holding a .lock link", [], "any", build=_i02_lock_link_new_out),
        Hostile("03 resume: log.jsonl is a link out", [], "any", build=_i03_log_link),
        Hostile("03 resume: metrics.jsonl is a link out", [], "any", build=_i03_metrics_link, timeout=240),
        Hostile("04 compare: 12000x12000 PNG beside a 40x40", [], "any", build=_compare_big(12000), timeout=240),
        Hostile("04 compare: 4000x4000 PNG beside a 40x40", [], "any", build=_compare_big(4000)),
        Hostile("05 import: stride-0 .pth declaring 2048 features", [], "error", build=_i05_stride0_import),
        Hostile("06 export --info: translate.json inflating to 400 MB", [], "error",
                build=lambda ctx: ["export", "--info", _inflating_pt(ctx), "--trust-code"]),
        Hostile("06 apply: translate.json inflating to 400 MB", [], "error",
                build=lambda ctx: ["apply", _inflating_pt(ctx), ctx.fx.photo, "-o", ctx.dir / "o.png", "--trust-code"]),
        Hostile("07 eval --size 100000", [], "error",
                build=lambda ctx: ["eval", ctx.fx.cg_run, "--size", "100000", "-n", "2", "-o", ctx.dir / "ev",
                                   "--set", f"a={ctx.fx.data}", "--set", "b=shapes", "--device", "cpu"]),
        Hostile("07 API: Model.sample(10**9)", [], "error", python=True,
                build=lambda ctx: api(load_gan % (str(ctx.fx.gan_run), "") + "\nm.sample(10**9)")),
        Hostile("07 sample -n 20000 (batched)", [], "ok",
                build=lambda ctx: ["sample", ctx.fx.gan_run, "-n", "20000", "-o", ctx.dir / "many.png"]),
        Hostile("08 import -o an existing checkpoint", [], "error", build=_i08_import_over_checkpoint),
        Hostile("08 import -o a folder holding a model", [], "error", build=_i08_import_over_folder),
        Hostile("09 data split AL -o AL", [], "error", build=_i09_split_into_itself),
        Hostile("09 data pair A B -o A --overwrite", [], "error", build=_i09_pair_into_input),
        Hostile("10 disk full while checkpointing", [], "error", build=_i10_disk_full),
        Hostile("11 exported metadata: a list", [], "error", build=_meta_case(lambda m: [1, 2])),
        Hostile("11 exported metadata: not UTF-8", [], "error", build=_meta_case(lambda m: b"\xff\xfe{\x00")),
        Hostile("11 exported metadata: no min_side", [], "error", build=_meta_case(_without("min_side"))),
        Hostile("11 exported metadata: multiple 0", [], "error", build=_meta_case(_with(multiple="0"))),
        Hostile("11 exported metadata: multiple x", [], "error", build=_meta_case(_with(multiple="x"))),
        Hostile("11 exported metadata: scale -3", [], "error", build=_meta_case(_with(scale="-3"))),
        Hostile("11 exported metadata: channels abc", [], "error", build=_meta_case(_with(channels="abc"))),
        Hostile("12 checkpoint metadata modules [1]", [], "error", build=_i12_modules_list_of_int),
        Hostile("13 import -o under a file", [], "error", build=_i13("import", "file")),
        Hostile("13 import -o in a read-only folder", [], "error", build=_i13("import", "ro")),
        Hostile("13 export -o under a file", [], "error", build=_i13("export", "file")),
        Hostile("13 export -o in a read-only folder", [], "error", build=_i13("export", "ro")),
        Hostile("14 API: load(device='tpu')", [], "error", python=True,
                build=lambda ctx: api((load_gan % (str(ctx.fx.gan_run), "")).replace("'cpu'", "'tpu'"))),
        Hostile("14 API: model(np.zeros((0, 0, 3)))", [], "error", python=True,
                build=lambda ctx: api(load_gan % (str(ctx.fx.cg_run), "") + "\nm(np.zeros((0, 0, 3), np.uint8))")),
        Hostile("14 API: train(123)", [], "error", python=True, build=lambda ctx: api("translate.train(123)")),
        Hostile("15 plugin check: a hook that never returns", [], "fail", build=_i15_check_hangs, timeout=240),
        Hostile("16 SIGTERM during an --eval-every evaluation", [], "fail", build=_i16_sigterm_in_eval, timeout=240),
        Hostile("17 train again where a run died after its eval", [], "ok", build=_i17_killed_after_eval),
        Hostile("18 plugins: a plugin raising SystemExit at import", [], "ok", "hostileplug",
                build=_i18("SystemExit(3)", "plugins")),
        Hostile("18 plugins: a plugin raising KeyboardInterrupt", [], "ok", "hostileplug",
                build=_i18("KeyboardInterrupt", "plugins")),
        Hostile("18 import beside a plugin raising SystemExit", [], "ok", build=_i18("SystemExit(3)", "import")),
        Hostile("18 plugin check: hook raising SystemExit(0)", [], "fail", build=_i18_check_systemexit0, timeout=240),
        Hostile("19 import: a pickle with code, message", [], "error", not_contains="weights_only=False",
                build=_i19_pickle),
        Hostile("20 sample: integer-typed weights", [], "error", build=_i20_int_weights),
        Hostile("21 train: bad --eval-data named as such", [], "error", "--eval-data",
                build=lambda ctx: _train_tiny(ctx, "--eval-every", "1", "--eval-data", ctx.dir / "nope")),
        Hostile("21 train: --eval-data without --eval-every", [], "any", "--eval-every",
                build=lambda ctx: _train_tiny(ctx, "--eval-data", "shapes")),
        Hostile("21 train: --eval-images -5", [], "error", "--eval-images",
                build=lambda ctx: _train_tiny(ctx, "--eval-every", "1", "--eval-images", "-5")),
        Hostile("21 compare: image over the pixel cap", [], "error", "TRANSLATE_MAX_PIXELS",
                not_contains="unreadable or truncated", build=_i21_over_cap),
        Hostile("21 import a folder", [], "error", not_contains="no such file", build=_i21_import_dir),
        Hostile("21 API: load(precision='fp8')", [], "error", python=True,
                build=lambda ctx: api(load_gan % (str(ctx.fx.gan_run), ", precision='fp8'"))),
        Hostile("21 API: load(ema='yes')", [], "error", python=True,
                build=lambda ctx: api(load_gan % (str(ctx.fx.gan_run), ", ema='yes'"))),
        Hostile("21 data check: 3000 duplicates", [], "any", max_line=400, build=_i21_duplicates),
    ]
    for case in cases:
        case.area = "issue"
    return cases


# ---- new: run folders received from others ----------------------------------------------------------

def outside_copy(ctx: Ctx, source: Path) -> Path:
    """A copy of ``source`` outside the case's folder (a link's target that must stay as it is)."""
    target = ctx.fx.outside / f"{ctx.dir.name}-{source.name}"
    shutil.copytree(source, target) if source.is_dir() else shutil.copy(source, target)
    return target


def _run_with_link(name: str, target: str = "copy", source: str = "gan_run", steps: int = 4, *more: str):
    """A received run whose ``name`` is a link to a file or folder outside it; resumed."""
    def build(ctx: Ctx) -> list[str]:
        run = ctx.copy_run(getattr(ctx.fx, source))
        if target == "copy":
            dest = outside_copy(ctx, run / name) if (run / name).exists() else ctx.fx.outside / "victim.jsonl"
        else:
            dest = ctx.fx.outside / target
        _link(run / name, dest)
        return resume(run, steps, *more)
    return build


def _run_edited(name: str, content: bytes | Callable[[bytes], bytes], command: str = "resume"):
    def build(ctx: Ctx) -> list[str]:
        run = ctx.copy_run(ctx.fx.gan_run)
        old = (run / name).read_bytes() if (run / name).exists() else b""
        (run / name).write_bytes(content(old) if callable(content) else content)
        if command == "sample":
            return ["sample", run, "-n", "4", "-o", ctx.dir / "s.png"]
        return resume(run)
    return build


def _model_is(kind: str):
    def build(ctx: Ctx) -> list[str]:
        run = ctx.copy_run(ctx.fx.gan_run)
        (run / "model.safetensors").unlink()
        if kind == "fifo":
            os.mkfifo(run / "model.safetensors")
        else:
            (run / "model.safetensors").mkdir()
        return ["sample", run, "-n", "4", "-o", ctx.dir / "s.png"]
    return build


def _lock_is_dir(ctx: Ctx) -> list[str]:
    run = ctx.copy_run(ctx.fx.gan_run)
    with contextlib.suppress(FileNotFoundError):
        (run / ".lock").unlink()
    (run / ".lock").mkdir()
    return resume(run)


def _stale_temp_link(ctx: Ctx) -> list[str]:
    run = ctx.copy_run(ctx.fx.gan_run)
    victim = outside_copy(ctx, run / "model.safetensors")
    (run / ".model.safetensors.x1y2.tmp.safetensors").symlink_to(victim)
    return resume(run)


def _state_step(value: str):
    def build(ctx: Ctx) -> list[str]:
        run = ctx.copy_run(ctx.fx.gan_run)
        safetensors_with(ctx.fx.gan_run / "state.safetensors", run / "state.safetensors", {"step": value})
        return resume(run)
    return build


def _plot_links(ctx: Ctx) -> list[str]:
    run = ctx.copy_run(ctx.fx.gan_run)
    _link(run / "index.html", outside_copy(ctx, run / "index.html"))
    for name in ("losses.png", "plot.png", "metrics.png"):
        _link(run / name, ctx.fx.sentinel)
    return ["plot", run]


def _metrics_garbage(ctx: Ctx) -> list[str]:
    run = ctx.copy_run(ctx.fx.gan_eval_run)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 1e400, "fid": NaN}\n{"step": "x", "fid": [1, 2]}\n[]\n\x00\x01garbage\n')
    return ["plot", run]


def run_folder_cases() -> list[Hostile]:
    cases = [
        Hostile("R model.safetensors is a link out; resume", [], "any", build=_run_with_link("model.safetensors")),
        Hostile("R state.safetensors is a link out; resume", [], "any", build=_run_with_link("state.safetensors")),
        Hostile("R samples/ is a link to a folder out; resume", [], "any",
                build=_run_with_link("samples", "dir", "gan_run", 4, "--sample-every", "1")),
        Hostile("R samples.png is a link out; resume", [], "any",
                build=_run_with_link("samples.png", "sentinel.txt", "gan_run", 4, "--sample-every", "1")),
        Hostile("R index.html is a link out; resume", [], "any", build=_run_with_link("index.html")),
        Hostile("R config.toml is a link out; resume", [], "any", build=_run_with_link("config.toml")),
        Hostile("R eval/ is a link to a folder out; resume", [], "any",
                build=_run_with_link("eval", "dir", "gan_eval_run", 2), timeout=240),
        Hostile("R best.safetensors is a link out; resume", [], "any",
                build=_run_with_link("best.safetensors", "copy", "gan_eval_run", 2), timeout=240),
        Hostile("R config.toml of 40 MB", [], "any",
                build=_run_edited("config.toml", lambda old: old + b"#" + b"x" * (40 << 20) + b"\n")),
        Hostile("R config.toml with wrong types (resume reads the checkpoint's)", [], "any",
                build=_run_edited("config.toml", lambda old: old.replace(b"steps = ", b"steps = 'many' #"))),
        Hostile("R config.toml not UTF-8", [], "any", build=_run_edited("config.toml", b"\xff\xfe\x00steps = 3\n")),
        Hostile("R log.jsonl: one 30 MB line without newline", [], "any",
                build=_run_edited("log.jsonl", lambda old: old + b'{"step": ' + b"9" * (30 << 20))),
        Hostile("R log.jsonl binary garbage", [], "any", build=_run_edited("log.jsonl", os.urandom(4096))),
        Hostile("R model.safetensors is a FIFO; sample", [], "error", build=_model_is("fifo"), timeout=90),
        Hostile("R model.safetensors is a folder; sample", [], "error", build=_model_is("dir")),
        Hostile("R .lock is a folder; resume", [], "any", build=_lock_is_dir),
        Hostile("R stale temporary is a link out; resume", [], "any", build=_stale_temp_link),
        Hostile("R state step -5; resume", [], "error", build=_state_step("-5")),
        Hostile("R state step 1e30; resume", [], "error", build=_state_step("1" + "0" * 30)),
        Hostile("R plot: index.html and plot PNGs are links out", [], "any", build=_plot_links),
        Hostile("R plot: metrics.jsonl with NaN, garbage, NUL", [], "any", build=_metrics_garbage),
    ]
    for case in cases:
        case.area = "run folder"
    return cases


# ---- new: model files from the internet -------------------------------------------------------------

def _sample(path: Path, ctx: Ctx) -> list[str]:
    return ["sample", path, "-n", "4", "-o", ctx.dir / "s.png"]


def _real_header(ctx: Ctx) -> tuple[dict, bytes]:
    raw = (ctx.fx.gan_run / "model.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _edited_header(edit: Callable[[dict], None]):
    def build(ctx: Ctx) -> list[str]:
        header, data = _real_header(ctx)
        edit(header)
        return _sample(raw_safetensors(ctx.dir / "m.safetensors", header, data), ctx)
    return build


def _first_tensor(header: dict) -> str:
    return next(k for k in header if k != "__metadata__")


def _offsets_out(header: dict) -> None:
    header[_first_tensor(header)]["data_offsets"] = [0, 10 ** 12]


def _huge_shape(header: dict) -> None:
    header[_first_tensor(header)]["shape"] = [10 ** 6, 10 ** 6]


def _meta_not_text(header: dict) -> None:
    header["__metadata__"]["step"] = 5


def _nested_options(header: dict) -> None:
    header["__metadata__"]["options"] = "[" * 200_000 + "]" * 200_000


def _big_options(header: dict) -> None:
    header["__metadata__"]["options"] = json.dumps({"x": "y" * (50 << 20)})


def _header_length(length: int):
    def build(ctx: Ctx) -> list[str]:
        header, data = _real_header(ctx)
        return _sample(raw_safetensors(ctx.dir / "m.safetensors", header, data, length=length), ctx)
    return build


def _whitespace_header(ctx: Ctx) -> list[str]:
    header, data = _real_header(ctx)
    body = json.dumps(header).encode() + b" " * (100 << 20)
    return _sample(raw_safetensors(ctx.dir / "m.safetensors", body, data), ctx)


def _weights(kind: str):
    def build(ctx: Ctx) -> list[str]:
        import torch
        from safetensors.torch import load_file

        tensors = load_file(str(ctx.fx.gan_run / "model.safetensors"))
        changed = {k: (v.half() if kind == "f16" else torch.full_like(v, float("nan")))
                   if v.is_floating_point() else v for k, v in tensors.items()}
        return _sample(safetensors_with(ctx.fx.gan_run / "model.safetensors", ctx.dir / "m.safetensors",
                                        tensors=changed), ctx)
    return build


def _pickle_named_safetensors(ctx: Ctx) -> list[str]:
    path = pickle_with_code(ctx.dir / "model.safetensors", ctx.fx.outside / "pickle-ran.txt")
    return _sample(path, ctx)


def _truncated_storage(ctx: Ctx) -> list[str]:
    path = ctx.dir / "cut.pth"
    raw = ctx.fx.resnet_pth.read_bytes()
    path.write_bytes(raw[: len(raw) * 2 // 3])
    return ["import", path, "-o", ctx.dir / "o.safetensors"]


def _many_tensors(ctx: Ctx) -> list[str]:
    import torch

    path = ctx.dir / "many.pth"
    torch.save({f"layer{i}.weight": torch.zeros(1) for i in range(100_000)}, path)
    return ["import", path, "-o", ctx.dir / "o.safetensors"]


def _garbage_onnx(ctx: Ctx) -> list[str]:
    path = ctx.dir / "model.onnx"
    path.write_bytes(os.urandom(5000))
    return ["apply", path, ctx.fx.photo, "-o", ctx.dir / "o.png"]


def _info_of_code(ctx: Ctx) -> list[str]:
    pt = torchscript_file(ctx.dir / "model.pt", ctx.fx.cg_meta, (
        f"torch.from_file({str(ctx.fx.sentinel)!r}, shared=True, size=8, dtype=torch.uint8).fill_(88)", "return x"))
    return ["export", "--info", pt]


def _released(served: Callable[[Ctx], bytes]):
    def build(ctx: Ctx) -> list[str]:
        ctx.fx.server.files[H2Z_PTH] = served(ctx)
        return ["apply", "horse2zebra", ctx.fx.photo, "-o", ctx.dir / "o.png"]
    return build


def _served_pickle(ctx: Ctx) -> bytes:
    return pickle_with_code(ctx.dir / "served.pth", ctx.fx.outside / "pickle-ran.txt").read_bytes()


def model_file_cases() -> list[Hostile]:
    cases = [
        Hostile("M safetensors header length 2**60", [], "error", build=_header_length(2 ** 60)),
        Hostile("M safetensors header length past the end", [], "error", build=_header_length(10 ** 6)),
        Hostile("M safetensors header of 100 MB whitespace", [], "error", build=_whitespace_header),
        Hostile("M safetensors offsets past the end", [], "error", build=_edited_header(_offsets_out)),
        Hostile("M safetensors shape of 10**12 elements", [], "error", build=_edited_header(_huge_shape)),
        Hostile("M safetensors metadata value not text", [], "error", build=_edited_header(_meta_not_text)),
        Hostile("M metadata options nested 200000 deep", [], "error", build=_edited_header(_nested_options)),
        Hostile("M metadata options of 50 MB", [], "error", build=_edited_header(_big_options)),
        Hostile("M NaN weights", [], "error", build=_weights("nan")),
        Hostile("M float16 weights", [], "any", build=_weights("f16")),
        Hostile("M pickle named .safetensors", [], "error", build=_pickle_named_safetensors),
        Hostile("M import: legacy pickle with code", [], "error",
                build=lambda ctx: ["import", pickle_with_code(ctx.dir / "old.pth", ctx.fx.outside / "pickle-ran.txt",
                                                              legacy=True), "-o", ctx.dir / "o.safetensors"]),
        Hostile("M import: truncated .pth", [], "error", build=_truncated_storage),
        Hostile("M import: 100000 tensors", [], "error", build=_many_tensors),
        Hostile("M import: stride-0 RRDB with 3000 blocks", [], "error",
                build=lambda ctx: ["import", _stride0_rrdb(ctx, 64, 3000), "-o", ctx.dir / "o.safetensors"]),
        Hostile("M apply: random bytes named .onnx", [], "error", build=_garbage_onnx),
        Hostile("M export --info of a .pt that writes a file", [], "error", build=_info_of_code),
        Hostile("M apply NAME: mirror serves a pickle with code", [], "error", build=_released(_served_pickle)),
        Hostile("M apply NAME: mirror serves an HTML page", [], "error",
                build=_released(lambda ctx: b"<html><body>Moved</body></html>" * 10)),
        Hostile("M apply NAME: mirror serves a reference .pth", [], "ok",
                build=_released(lambda ctx: ctx.fx.resnet_pth.read_bytes())),
    ]
    for case in cases:
        case.area = "model file"
    return cases


# ---- new: archives, through 'translate data get' against the loopback mirror ----------------------------

def _get(served: Callable[[Ctx], bytes], out: str = "data", *more: str, prepare: Callable[[Ctx], None] | None = None):
    def build(ctx: Ctx) -> list[str]:
        ctx.fx.server.files[H2Z_ZIP] = served(ctx)
        if prepare:
            prepare(ctx)
        return ["data", "get", "horse2zebra", "-o", ctx.dir / out, *more]
    return build


def _escape(ctx: Ctx) -> str:
    """A relative name that climbs from the unpack folder to the shared outside folder."""
    return os.path.relpath(ctx.fx.outside / "escaped.txt", ctx.dir / "data" / "x")


def _existing_set(ctx: Ctx) -> None:
    folder = images(ctx.dir / "data" / "trainA", 2)
    ctx.keep(folder.parent)


def _out_link(ctx: Ctx) -> None:
    (ctx.dir / "data").symlink_to(outside_copy(ctx, ctx.fx.outside / "dir"))


def _tampered_cache(ctx: Ctx) -> None:
    from translate.download import file_sha256

    cached = ctx.dir / "home" / "datasets" / "cyclegan" / "horse2zebra.zip"
    cached.parent.mkdir(parents=True)
    good = zip_bytes(reference_set())
    cached.write_bytes(good)
    (cached.parent / "horse2zebra.zip.sha256").write_text(f"{file_sha256(cached)}  horse2zebra.zip\n")
    cached.write_bytes(zip_bytes({**reference_set(), "horse2zebra/trainA/evil.png": b"x"}))


def _encrypted_zip(ctx: Ctx) -> bytes:
    raw = bytearray(zip_bytes(reference_set(), zipfile.ZIP_STORED))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set "encrypted" in every header
        start = 0
        while (start := raw.find(signature, start)) != -1:
            raw[start + offset] |= 1
            start += 4
    return bytes(raw)


def _bomb(ctx: Ctx) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("horse2zebra/trainA/zeros.png")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w") as member:
            for _ in range(600):
                member.write(bytes(1 << 20))
    return buffer.getvalue()


def _tar_bomb(ctx: Ctx) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("horse2zebra/trainA/zeros.png")
        info.size = 600 << 20
        archive.addfile(info, io.BytesIO(bytes(600 << 20)))
    return buffer.getvalue()


def _unpack_api(make: Callable[[Ctx], bytes], **limits):
    def build(ctx: Ctx) -> list[str]:
        archive = ctx.dir / "set.zip"
        archive.write_bytes(make(ctx))
        return api(f"from translate.archive import unpack\nunpack({str(archive)!r}, {str(ctx.dir / 'out')!r}, "
                   + ", ".join(f"{k}={v!r}" for k, v in limits.items()) + ")")
    return build


def _one_folder_exists(ctx: Ctx) -> list[str]:
    images(ctx.dir / "data" / "x", 1)
    ctx.fx.server.files[H2Z_ZIP] = zip_bytes({"horse2zebra/x/00.png/inner.png": b"x", "horse2zebra/x/00.png": b"y"})
    return ["data", "get", "horse2zebra", "-o", ctx.dir / "data2"]


def archive_cases() -> list[Hostile]:
    ref = lambda ctx: zip_bytes(reference_set())
    cases = [
        Hostile("A data get: a good zip (baseline)", [], "ok", "next:", build=_get(ref)),
        Hostile("A data get: tar made with 'tar -C dir .' (./ members)", [], "ok", build=_get(
            lambda ctx: tar_bytes([folder_info("./")] + [("./" + k, v) for k, v in reference_set().items()]))),
        Hostile("A data get: zip with Windows backslash names", [], "ok", build=_get(
            lambda ctx: zip_bytes({k.replace("/", "\\"): v for k, v in reference_set().items()}))),
        Hostile("A data get: zip member climbing out with ..", [], "error", build=_get(
            lambda ctx: zip_bytes({**reference_set(), _escape(ctx): b"evil"}))),
        Hostile("A data get: zip member with an absolute path", [], "error", build=_get(
            lambda ctx: zip_bytes({**reference_set(), str(ctx.fx.outside / "abs.txt"): b"evil"}))),
        Hostile("A data get: tar symlink out, then a file through it", [], "error", build=_get(
            lambda ctx: tar_bytes([link_info("horse2zebra/out", str(ctx.fx.outside / "dir")),
                                   ("horse2zebra/out/evil.txt", b"evil")]))),
        Hostile("A data get: tar hard link to the sentinel", [], "error", build=_get(
            lambda ctx: tar_bytes([link_info("horse2zebra/h", str(ctx.fx.sentinel), tarfile.LNKTYPE)]))),
        Hostile("A data get: tar with a FIFO member", [], "error", build=_get(
            lambda ctx: tar_bytes([link_info("horse2zebra/fifo", "", tarfile.FIFOTYPE)]))),
        Hostile("A data get: zip symlink member", [], "error", build=_get(
            lambda ctx: zip_bytes(reference_set(), links={"horse2zebra/l": str(ctx.fx.sentinel)}))),
        Hostile("A data get: zip bomb (600 MB of zeros)", [], "error", build=_get(_bomb)),
        Hostile("A data get: tar.gz bomb (600 MB of zeros)", [], "error", build=_get(_tar_bomb)),
        Hostile("A data get: a member name twice", [], "error", build=_get(lambda ctx: _twice())),
        Hostile("A data get: a 300-character name", [], "error", build=_get(
            lambda ctx: zip_bytes({**reference_set(), "horse2zebra/" + "n" * 300 + ".png": b"x"}))),
        Hostile("A data get: a file and a folder of one name", [], "error", build=_one_folder_exists),
        Hostile("A data get: encrypted zip members", [], "error", build=_get(_encrypted_zip)),
        Hostile("A data get: mirror answers with an HTML page", [], "error", build=_get(
            lambda ctx: b"<html><body>Sorry, this file has moved</body></html>")),
        Hostile("A data get: a truncated zip", [], "error", build=_get(lambda ctx: ref(ctx)[:-300])),
        Hostile("A data get: -o is a link to a folder out", [], "error", build=_get(ref, prepare=_out_link)),
        Hostile("A data get: -o not empty, no --overwrite", [], "error", build=_get(ref, prepare=_existing_set)),
        Hostile("A data get --overwrite with a bad archive", [], "error", build=_get(
            lambda ctx: zip_bytes({**reference_set(), _escape(ctx): b"evil"}), "data", "--overwrite",
            prepare=_existing_set)),
        Hostile("A data get: cached archive changed since download", [], "error", build=_get(ref, prepare=_tampered_cache)),
        Hostile("A data get: mirror 404", [], "error", build=lambda ctx: (
            ctx.fx.server.files.pop(H2Z_ZIP, None), ["data", "get", "horse2zebra", "-o", ctx.dir / "data"])[1]),
        Hostile("A data get: TRANSLATE_MIRROR=ftp://x", [], "error", build=lambda ctx: (
            ctx.env.update(TRANSLATE_MIRROR="ftp://x"), ["data", "get", "horse2zebra", "-o", ctx.dir / "data"])[1]),
        Hostile("A data get --offline, nothing cached", [], "error",
                build=lambda ctx: ["data", "get", "horse2zebra", "-o", ctx.dir / "data", "--offline"]),
        Hostile("A unpack: 5000 entries over max_files=1000", [], "error", python=True, build=_unpack_api(
            lambda ctx: zip_bytes({f"s/{i}.png": b"" for i in range(5000)}), max_files=1000)),
        Hostile("A unpack: into an existing target", [], "error", python=True, build=lambda ctx: (
            (ctx.dir / "out").mkdir(), ctx.keep(ctx.dir / "out"), _unpack_api(ref)(ctx))[2]),
    ]
    for case in cases:
        case.area = "archive"
    return cases


def _twice() -> bytes:
    buffer = io.BytesIO()
    with warnings_off(), zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("horse2zebra/trainA/0.png", png_bytes(16, 0))
        archive.writestr("horse2zebra/trainA/0.png", b"second")
    return buffer.getvalue()


@contextlib.contextmanager
def warnings_off():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ---- new: concurrent commands on one folder -------------------------------------------------------------

def _two_trains(ctx: Ctx) -> list[str]:
    args = ["train", "gan", "--data", "shapes", "--steps", "20", *TINY, "--out", ctx.dir / "run"]
    ctx.also(args, 0.3)
    ctx.after.append(lambda: _loadable(ctx.dir / "run" / "model.safetensors"))
    return args


def _loadable(path: Path) -> str | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            f.metadata()
    except Exception as exc:  # noqa: BLE001 - any failure is the complaint
        return f"{path.name} unreadable after the run: {exc}"
    return None


def _resume_while_sampling(ctx: Ctx) -> list[str]:
    run = ctx.copy_run(ctx.fx.gan_run)
    ctx.alongside_expect = "ok"
    for i, delay in enumerate((4, 6, 8)):
        ctx.also(["sample", run, "-n", "4", "-o", ctx.dir / f"s{i}.png"], delay)
    return resume(run, 80, "--checkpoint-every", "1")  # a few steps/s on a busy 2-core box


def _two_gets(same_out: bool):
    def build(ctx: Ctx) -> list[str]:
        ctx.fx.server.files[H2Z_ZIP] = zip_bytes(reference_set())
        ctx.also(["data", "get", "horse2zebra", "-o", ctx.dir / ("data" if same_out else "data2")])
        if not same_out:
            ctx.alongside_expect = "ok"
        ctx.after.append(lambda: None if len(list((ctx.dir / "data").rglob("*.png"))) == 8 else "data/ incomplete")
        return ["data", "get", "horse2zebra", "-o", ctx.dir / "data"]
    return build


def _two_applies(ctx: Ctx) -> list[str]:
    inputs = images(ctx.dir / "in", 4, size=32)
    ctx.also(["apply", ctx.fx.cg_run, inputs, "-o", ctx.dir / "out"])
    return ["apply", ctx.fx.cg_run, inputs, "-o", ctx.dir / "out"]


def _two_imports(ctx: Ctx) -> list[str]:
    args = ["import", ctx.fx.resnet_pth, "-o", ctx.dir / "m.safetensors"]
    ctx.also(args)
    ctx.after.append(lambda: _loadable(ctx.dir / "m.safetensors"))
    return args


def _two_exports(ctx: Ctx) -> list[str]:
    args = ["export", ctx.fx.cg_run, "-o", ctx.dir / "m.pt", "--no-check"]
    ctx.also(args)
    ctx.after.append(lambda: None if zipfile.is_zipfile(ctx.dir / "m.pt") else "m.pt is not a whole archive")
    return args


def _two_resumes(ctx: Ctx) -> list[str]:
    run = ctx.copy_run(ctx.fx.gan_run)
    ctx.also(resume(run, 30), 0.3)
    ctx.after.append(lambda: _loadable(run / "state.safetensors"))
    return resume(run, 30)


def _two_samples(ctx: Ctx) -> list[str]:
    args = ["sample", ctx.fx.gan_run, "-n", "64", "-o", ctx.dir / "s.png", "--overwrite"]
    ctx.also(args)
    return args


def _two_splits(ctx: Ctx) -> list[str]:
    al = aligned_folder(ctx.dir / "al", 20)
    ctx.also(["data", "split", al, "-o", ctx.dir / "out"])
    return ["data", "split", al, "-o", ctx.dir / "out"]


def _two_released(ctx: Ctx) -> list[str]:
    ctx.fx.server.files[H2Z_PTH] = ctx.fx.resnet_pth.read_bytes()
    ctx.alongside_expect = "ok"
    ctx.also(["apply", "horse2zebra", ctx.fx.photo, "-o", ctx.dir / "b.png"])
    return ["apply", "horse2zebra", ctx.fx.photo, "-o", ctx.dir / "a.png"]


def _eval_while_training(ctx: Ctx) -> list[str]:
    run = ctx.copy_run(ctx.fx.gan_run)
    ctx.also(["plot", run], 3)
    ctx.also(["plot", run], 5)
    return resume(run, 60, "--checkpoint-every", "1")


def concurrent_cases() -> list[Hostile]:
    cases = [
        Hostile("C two trains on one --out", [], "any", build=_two_trains),
        Hostile("C train --resume while sample reads the checkpoint", [], "ok", build=_resume_while_sampling),
        Hostile("C two data get of one name, two folders", [], "ok", build=_two_gets(False)),
        Hostile("C two data get of one name, one folder", [], "any", build=_two_gets(True)),
        Hostile("C two apply -o into one folder", [], "any", build=_two_applies),
        Hostile("C two import -o one file", [], "any", build=_two_imports),
        Hostile("C two export -o one file", [], "any", build=_two_exports),
        Hostile("C two train --resume of one run", [], "any", build=_two_resumes),
        Hostile("C two sample -o one file --overwrite", [], "any", build=_two_samples),
        Hostile("C two data split into one folder", [], "any", build=_two_splits),
        Hostile("C two apply NAME fetching one released model", [], "ok", build=_two_released),
        Hostile("C plot while the run trains", [], "ok", build=_eval_while_training),
    ]
    for case in cases:
        case.area = "concurrent"
    return cases


# ---- running and judging ---------------------------------------------------------------------------------

def all_cases() -> list[Hostile]:
    return issue_cases() + run_folder_cases() + model_file_cases() + archive_cases() + concurrent_cases()


@dataclass
class Outcome:
    case: Hostile
    kind: str  # "pass", or what failed: hang, outside, data-loss, memory, traceback, wrong, leftover, setup
    rc: int | None = None
    rss_mb: float = 0.0
    wall: float = 0.0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "pass"


@dataclass
class Child:
    argv: list[str]
    log: Path
    proc: subprocess.Popen | None = None
    started: float = 0.0
    rc: int | None = None
    rss_mb: float = 0.0
    ended: float = 0.0
    killed: str = ""

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def tree_state(root: Path, skip: Path) -> dict[str, tuple]:
    """Every entry under ``root`` but ``skip``: (kind, size, mtime_ns, link target), never following links."""
    state = {}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if here == skip:
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if here / d != skip]
        for name in dirs + files:
            path = here / name
            st = path.lstat()
            target = os.readlink(path) if path.is_symlink() else ""
            state[str(path.relative_to(root))] = (st.st_mode >> 12, st.st_size if not path.is_dir() else 0,
                                                   st.st_mtime_ns if not path.is_dir() else 0, target)
    return state


def half_written(folder: Path) -> set[str]:
    found = set()
    for path in folder.rglob("*"):
        name = path.name
        if name.endswith(HALF_WRITTEN) or ".tmp" in name or name.endswith(".part") or ".unpacking" in name:
            found.add(str(path.relative_to(folder)))
    return found


class Runner:
    def __init__(self, work: Path, fx: Fixtures, server):
        self.work, self.fx, self.server = work, fx, server

    def spawn(self, child: Child, ctx: Ctx, python: bool, main: bool) -> None:
        env = dict(os.environ, TRANSLATE_HOME=str(ctx.dir / "home"), TRANSLATE_MIRROR=self.server.base_url,
                   TRANSLATE_DOWNLOAD_RETRIES="1", TRANSLATE_DOWNLOAD_BACKOFF="0.05", PYTHONUNBUFFERED="1")
        env.update(ctx.env)
        fsize = ctx.fsize if main else None

        def limits() -> None:
            resource.setrlimit(resource.RLIMIT_DATA, (DATA_LIMIT, DATA_LIMIT))
            if fsize:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

        command = [sys.executable, *child.argv] if python else [sys.executable, "-m", "translate", *child.argv]
        with open(child.log, "wb") as log:
            child.proc = subprocess.Popen(command, cwd=ctx.dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, preexec_fn=limits,  # noqa: PLW1509 - setrlimit only
                                          start_new_session=True)
        child.started = time.monotonic()

    @staticmethod
    def reap(child: Child, block: bool = False) -> bool:
        """Collects ``child`` if it has ended (with its own peak RSS from wait4); True once it has."""
        if child.rc is not None:
            return True
        pid, status, usage = os.wait4(child.proc.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        child.rc, child.rss_mb, child.ended = os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.monotonic()
        child.proc.returncode = child.rc  # so Popen does not wait for it again
        return True

    @staticmethod
    def kill(child: Child, why: str) -> None:
        child.killed = why
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.proc.pid, signal.SIGKILL)  # its own session: the child and what it started

    def run(self, index: int, case: Hostile) -> Outcome:
        folder = self.work / "cases" / f"{index:03d}"
        folder.mkdir(parents=True)
        ctx = Ctx(folder, self.fx)
        try:
            argv = [str(a) for a in case.build(ctx)]
        except Exception as exc:  # noqa: BLE001 - a fixture that cannot be made is this case's failure
            self.release(ctx)
            return Outcome(case, "setup", detail=f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}")
        outside_before = tree_state(self.work, folder)
        inside_before = half_written(folder)
        kept = dict(ctx.kept)
        main = Child(argv, folder / "main.log")
        others = [(Child(a, folder / f"also{i}.log"), delay) for i, (a, delay) in enumerate(ctx.alongside)]
        t0 = time.monotonic()
        self.spawn(main, ctx, case.python, True)
        pending = list(others)
        signal_sent, signal_deadline = None, None
        while True:
            now = time.monotonic()
            for child, delay in list(pending):
                if now - t0 >= delay:
                    self.spawn(child, ctx, False, False)
                    pending.remove((child, delay))
            children = [main] + [c for c, _ in others if c.proc is not None]
            for child in children:
                if not self.reap(child) and now - child.started > case.timeout:
                    self.kill(child, f"no exit after {case.timeout:.0f} s")
                    self.reap(child, block=True)
            if ctx.send and signal_sent is None and main.rc is None and ctx.send[1]():
                os.kill(main.proc.pid, ctx.send[0])
                signal_sent, signal_deadline = now, now + ctx.send[2]
            if signal_deadline and main.rc is None and now > signal_deadline:
                self.kill(main, f"still running {ctx.send[2]:.0f} s after {signal.Signals(ctx.send[0]).name}")
                self.reap(main, block=True)
            if not pending and all(c.rc is not None for c in [main] + [c for c, _ in others]):
                break
            time.sleep(0.05)
        wall = time.monotonic() - t0
        if ctx.send and signal_sent is None:
            main.killed = main.killed or "the signal's moment never came"
        outcome = self.judge(case, ctx, main, [c for c, _ in others], kept, outside_before, inside_before, folder)
        outcome.wall = wall if not signal_sent else main.ended - signal_sent
        self.release(ctx)
        return outcome

    @staticmethod
    def release(ctx: Ctx) -> None:
        for folder in ctx.immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=False)

    def judge(self, case: Hostile, ctx: Ctx, main: Child, others: list[Child], kept: dict[Path, str],
              outside_before: dict, inside_before: set, folder: Path) -> Outcome:
        text = main.text()
        rss = max([main.rss_mb] + [c.rss_mb for c in others])
        base = {"rc": main.rc, "rss_mb": rss}
        last = (text.strip().splitlines() or [""])[-1][:150]
        for child in [main, *others]:
            if child.killed:
                return Outcome(case, "hang", detail=f"{child.killed}: {last}", **base)
        changed = self.outside_changes(outside_before, folder)
        if changed:
            return Outcome(case, "outside", detail=f"written outside the case: {', '.join(changed[:3])}", **base)
        lost = [str(p.relative_to(folder)) for p, d in kept.items() if digest(p) != d]
        if lost:
            return Outcome(case, "data-loss", detail=f"changed: {', '.join(lost[:3])}; {last}", **base)
        texts = [text] + [c.text() for c in others]
        if rss > RSS_LIMIT_MB or any("MemoryError" in t or "out of memory" in t.lower() for t in texts):
            return Outcome(case, "memory", detail=f"peak RSS {rss:.0f} MB; {last}", **base)
        ok, detail = judge(case, subprocess.CompletedProcess(main.argv, main.rc, text, ""))
        if ok and case.not_contains and case.not_contains in text:
            ok, detail = False, f"says '{case.not_contains}': {detail}"
        if ok and case.max_line and max(map(len, text.splitlines() or [""])) > case.max_line:
            ok, detail = False, f"a line of {max(map(len, text.splitlines()))} characters"
        for child in others:
            other_ok, other_detail = judge(Case("", [], ctx.alongside_expect),
                                           subprocess.CompletedProcess(child.argv, child.rc, child.text(), ""))
            if ok and not other_ok:
                ok, detail = False, f"the command alongside: {other_detail}"
        for check in ctx.after:
            complaint = check()
            if ok and complaint:
                ok, detail = False, complaint
        if not ok:
            return Outcome(case, "traceback" if detail.startswith("traceback") or "Traceback" in detail else "wrong",
                           detail=detail, **base)
        left = sorted(half_written(folder) - inside_before)
        if left and not ctx.allow_leftovers:
            return Outcome(case, "leftover", detail=f"half-written: {', '.join(left[:3])}", **base)
        return Outcome(case, "pass", detail=detail, **base)

    def outside_changes(self, before: dict, folder: Path) -> list[str]:
        after = tree_state(self.work, folder)
        changed = [name for name in after if before.get(name) != after[name]]
        return changed + [f"{name} (removed)" for name in before if name not in after]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="run the cases whose name holds TEXT (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    cases = [c for c in all_cases() if not args.only or any(t.lower() in c.name.lower() for t in args.only)]
    if args.list:
        for case in cases:
            print(f"{case.area:<11} {case.expect:<6} {case.name}")
        print(f"\n{len(cases)} cases")
        return
    sys.path.insert(0, str(REPO / "tests"))
    from helpers import serve_files

    work = (args.keep or Path(tempfile.mkdtemp(prefix="translate-hostile-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    outcomes = []
    with serve_files({}) as server:
        runner = Runner(work, Fixtures(work / "fixtures", server), server)
        for index, case in enumerate(cases):
            outcome = runner.run(index, case)
            outcomes.append(outcome)
            rc = "-" if outcome.rc is None else outcome.rc
            print(f"{'ok  ' if outcome.ok else 'FAIL'} {outcome.kind:<9} {case.name:<54} rc {rc!s:>4} "
                  f"{outcome.rss_mb:6.0f} MB {outcome.wall:6.1f} s  {outcome.detail}", flush=True)
    summarise(outcomes, time.monotonic() - began)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if all(o.ok for o in outcomes) else 1)


def summarise(outcomes: list[Outcome], seconds: float) -> None:
    failed: dict[str, int] = {}
    for outcome in outcomes:
        if not outcome.ok:
            failed[outcome.kind] = failed.get(outcome.kind, 0) + 1
    areas: dict[str, list[int]] = {}
    for outcome in outcomes:
        tally = areas.setdefault(outcome.case.area, [0, 0])
        tally[0] += outcome.ok
        tally[1] += 1
    passed = sum(o.ok for o in outcomes)
    print(f"\n{passed}/{len(outcomes)} cases passed in {seconds / 60:.1f} min; failed by kind: "
          + (", ".join(f"{k} {n}" for k, n in sorted(failed.items())) or "none"))
    print("by area: " + ", ".join(f"{area} {p}/{n}" for area, (p, n) in areas.items()))
    if outcomes:
        top = max(outcomes, key=lambda o: o.rss_mb)
        slow = max(outcomes, key=lambda o: o.wall)
        print(f"max RSS {top.rss_mb:.0f} MB ({top.case.name}); slowest {slow.wall:.1f} s ({slow.case.name})")


if __name__ == "__main__":
    main()
