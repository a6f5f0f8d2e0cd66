"""The plugin contract: the hooks a plugin implements, typed, and checked when it registers.

A plugin is a subclass of :class:`Plugin` registered under the ``translate.plugins`` entry-point
group (``name = "package.module:PluginClass"``). The core never names a plugin: it only calls the
hooks listed in :data:`HOOKS`, so built-in plugins and third-party ones are treated exactly alike.

This module imports no torch (types are for checkers only): it is imported for ``--help``. Keep
the module that your entry point names light too, and import networks inside the hooks.

Class attributes
    ``description``       one line for ``translate plugins`` (required).
    ``Config``            a dataclass; every field has a default (the paper's, cited in its help;
                          where a default is not the paper's, ``paper`` holds the paper's value).
                          Fields become ``translate train NAME`` flags, config-file keys and
                          keywords of :func:`translate.train`. A field named ``channels`` (1 or 3)
                          makes the core read images as grayscale or RGB.
    ``data_flags``        data options and their help, default ``{"data": ...}``.
    ``train_defaults``    overrides of :class:`translate.options.TrainOptions` defaults.
    ``paper``             Config values that restore the published recipe where the defaults depart
                          from it (``translate train NAME --paper``); empty: the defaults are the paper's.
    ``inference_modules`` modules that apply/sample need (and EMA tracks); default ("generator",).
    ``channels_last``     convert modules and 4-D batches to channels_last: True (default) where it
                          pays for most networks (CUDA; a CPU under bf16/fp16 autocast), "always"
                          (also fp32 on a CPU: measure, e.g. ``benchmarks/profile_step.py --layout``),
                          or False.
    ``helpers``           names of public methods of yours that are not hooks (else they are
                          reported as misspelt hooks; or start their names with ``_``).
    ``metric_goals``      which way each metric of your ``evaluate`` improves: name → "min", "max",
                          or None for counts and error bars, e.g. ``{"accuracy": "max", "images": None}``.
                          Names resolve by prefix (``accuracy_a`` → ``accuracy``). The core declares
                          its own metrics (fid, kid, lpips, psnr, ssim: :mod:`translate.metric_goals`);
                          ``--keep-best`` and the run page's "best" use both.
    ``catalogue``         name of a TOML file inside the plugin's package listing the data sets and
                          released models users get by name (``translate data get NAME``, ``translate
                          apply NAME``): ``[datasets.NAME]`` and ``[models.NAME]`` tables, keys in
                          :data:`translate.catalogue_file.KEYS`; checked when the plugin registers.
    ``tta``               the test-time augmentation your networks tolerate (``--tta``;
                          :mod:`translate.tta`): "dihedral" (4 rotations × mirror, 8 passes),
                          "flips" (the image and its left-right mirror, 2 passes) or None
                          (default: none). The core wraps each inference module so that every
                          call averages its outputs over the transforms, each undone first; declare
                          it only where every inference module maps an image to an image whose
                          pixels follow the input's (a mirrored input gives the mirrored output).

Hooks are in :data:`HOOKS`, in the order the trainer calls them; each entry says what it takes,
what it returns and when it runs. The core checks what a hook returns and reports a wrong type in
one line naming the plugin and the hook (:func:`call_hook`). Hooks that take keyword options
(``apply``, ``sample``, ``evaluate``) declare the options they accept as keyword parameters: the
core refuses any other option before calling, with one line naming the plugin. A hook with
``**options`` accepts anything and checks itself.

Training state that is not a module or an optimiser (e.g. CycleGAN's image pools) goes into
``ctx.buffers``: a dict of tensors saved with the training state and restored on ``--resume``.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Generic, Literal, Mapping, TypeVar

from .errors import PluginError, UserError
from .metric_goals import declaration_problems

if TYPE_CHECKING:  # for type checkers only: importing this module must not import torch
    from PIL.Image import Image
    from torch import Generator as TorchGenerator
    from torch import Tensor, nn
    from torch.optim import Optimizer

    from .interfaces import Dataset
    from .options import TrainOptions
    from .registry import PluginInfo
    from .context import TrainContext

ConfigT = TypeVar("ConfigT")
Modules = dict[str, "nn.Module"]
Logs = dict[str, "Tensor | float"]


@dataclass(frozen=True)
class Hook:
    """One hook of the contract: its positional parameters (after ``self``), whether a plugin must
    define it, and what it returns (checked by :func:`call_hook`)."""

    name: str
    params: tuple[str, ...]
    required: bool
    returns: str
    options: bool = False  # takes keyword options, filtered by the core against the signature


HOOKS: dict[str, Hook] = {h.name: h for h in (
    # --- required (discriminator_step/generator_step unless train_step is overridden) ----------
    Hook("build", ("config", "options"), True, "dict of nn.Module by role"),
    Hook("dataset", ("config", "options", "data"), True, "a translate.interfaces.Dataset"),
    Hook("optimizers", ("config", "modules"), True, "dict of torch.optim.Optimizer by name"),
    Hook("discriminator_step", ("ctx", "batch"), True, "dict of scalars to log"),
    Hook("generator_step", ("ctx", "batch"), True, "dict of scalars to log"),
    # --- optional ---------------------------------------------------------------------------
    Hook("finalize_config", ("config", "explicit", "data", "options"), False, "the Config"),
    Hook("check_config", ("config", "options"), False, "None"),
    Hook("d_steps", ("config",), False, "an int ≥ 0"),
    Hook("schedulers", ("config", "optimizers", "total_steps"), False, "dict of LR schedulers"),
    Hook("train_step", ("ctx",), False, "dict of scalars to log"),
    Hook("preferred_precision", ("config", "options"), False, "None, 'fp32', 'bf16' or 'fp16'"),
    Hook("preview", ("ctx", "batch"), False,
         "None, an N×C×H×W tensor, a PIL image, or a translate.plugin.Preview of one with its captions"),
    Hook("sample", ("modules", "config", "n", "generator"), False, "a tensor", options=True),
    Hook("write_samples", ("samples", "path"), False, "the Path written", options=True),
    Hook("apply", ("modules", "config", "images"), False, "a tensor", options=True),
    Hook("evaluate", ("modules", "config", "out_dir"), False, "dict of metrics", options=True),
    Hook("latent_dim", ("config",), False, "an int ≥ 0"),
    Hook("class_names", ("config",), False, "a tuple of str"),
    Hook("generate", ("modules", "config", "z"), False, "a tensor"),
    Hook("example_run", ("workdir",), False, "dict of train keywords"),
    Hook("import_weights", ("tensors",), False, "None, or a translate.plugin.Imported", options=True),
    Hook("export_module", ("modules", "config"), False, "an nn.Module, or None to opt out", options=True),
)}

CONTRACT_ATTRIBUTES = frozenset({
    "name", "version", "distribution", "description", "Config", "data_flags", "train_defaults",
    "paper", "inference_modules", "channels_last", "helpers", "metric_goals", "catalogue", "tta",
})
TTA_MODES = ("dihedral", "flips")  # translate.tta runs them; here for the registration check (no torch)
REQUIRED_HOOKS = tuple(name for name, hook in HOOKS.items() if hook.required)
STEP_HOOKS = ("discriminator_step", "generator_step")


@dataclass(frozen=True)
class Preview:
    """A preview that says what it shows, for the captions of the run page (``preview`` hook).

    ``images`` is what ``preview`` may return bare: an N×C×H×W tensor in [-1, 1] or a PIL image.
    ``columns`` names the columns of the grid, left to right: the core then lays the tensor out
    ``len(columns)`` images a row (row-major, so N must be a multiple of it), e.g. ("input",
    "output", "target") with the images of each item in turn. ``rows`` names the rows, top to
    bottom, repeating (two directions of a two-way model: ("A → B", "B → A")); a PIL image with
    ``rows`` is taken to hold exactly that many equal rows (and ``len(columns)`` equal columns).
    ``title`` is one line on the whole grid ("samples from fixed noise"). Captions are shown by
    the page beside the image, never drawn into the PNG."""

    images: Any
    columns: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()
    title: str = ""

    def problems(self) -> list[str]:
        """What makes this preview unusable (empty when it is fine)."""
        found = []
        if not (_tensor(self.images) and self.images.dim() == 4) and not _pil_image(self.images):
            found.append(f"images is {_describe(self.images)}, not an N×C×H×W tensor nor a PIL image")
        for name in ("columns", "rows"):
            labels = getattr(self, name)
            if not isinstance(labels, (tuple, list)) or not all(isinstance(x, str) and x for x in labels):
                found.append(f"{name} must be a tuple of non-empty strings")
        if not isinstance(self.title, str):
            found.append("title must be a string")
        if found:
            return found
        if self.rows and not self.columns:
            found.append("rows without columns; name the columns too")
        if self.columns and _tensor(self.images) and self.images.shape[0] % len(self.columns):
            found.append(f"{self.images.shape[0]} images do not fill rows of {len(self.columns)} columns")
        return found


@dataclass
class Imported:
    """What a plugin makes of weights released by another project (``import_weights``)."""

    config: dict[str, Any]  # Config fields as keywords, e.g. {"n_blocks": 9, "gen_features": 64}
    modules: dict[str, dict[str, Any]]  # inference module name → its state dict
    layout: str  # what was recognised, e.g. "junyanz ResnetGenerator, 9 blocks, 64 filters"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)  # trainer options to record
    notes: tuple[str, ...] = ()  # what was dropped, filled in or assumed: printed and recorded


class Plugin(Generic[ConfigT]):
    """Base class of every plugin; the hooks below document the contract (see :data:`HOOKS`)."""

    # Set by the registry when loaded from an entry point.
    name: str = ""
    version: str = "0"
    distribution: str = ""

    description: ClassVar[str] = ""
    Config: ClassVar[type]
    data_flags: ClassVar[dict[str, str]] = {"data": "folder of training images (recursive), or a built-in dataset name"}
    train_defaults: ClassVar[dict[str, Any]] = {}
    paper: ClassVar[dict[str, Any]] = {}
    inference_modules: ClassVar[tuple[str, ...]] = ("generator",)
    channels_last: ClassVar[bool | Literal["always"]] = True
    helpers: ClassVar[tuple[str, ...]] = ()
    metric_goals: ClassVar[dict[str, str | None]] = {}
    catalogue: ClassVar[str] = ""  # a TOML file in the plugin's package: its data sets and released models
    tta: ClassVar[str | None] = None  # test-time augmentation: "dihedral", "flips" or None (translate.tta)

    # ---- required -------------------------------------------------------------------------
    def build(self, config: ConfigT, options: TrainOptions, training: bool = True) -> Modules:
        """Every network by role ("generator", "discriminator", ...); all are saved for resume.
        With ``training=False`` (apply, sample, export) only ``inference_modules`` are needed:
        skip the others. Load no training-only weights (e.g. VGG) here."""
        raise self._missing("build")

    def dataset(self, config: ConfigT, options: TrainOptions, data: dict[str, str]) -> Dataset:
        """The training data; ``data`` maps each of ``data_flags`` the user gave to its value."""
        raise self._missing("dataset")

    def optimizers(self, config: ConfigT, modules: Modules) -> dict[str, Optimizer]:
        raise self._missing("optimizers")

    def discriminator_step(self, ctx: TrainContext, batch: dict[str, Tensor]) -> Logs:
        """One D update through ``ctx.optimize(name, loss)``; returns scalars to log."""
        raise self._missing("discriminator_step")

    def generator_step(self, ctx: TrainContext, batch: dict[str, Tensor]) -> Logs:
        """One G update through ``ctx.optimize(name, loss)``; returns scalars to log."""
        raise self._missing("generator_step")

    # ---- optional: config -------------------------------------------------------------------
    def finalize_config(self, config: ConfigT, explicit: set[str], data: dict[str, str],
                        options: TrainOptions) -> ConfigT:
        """Defaults that depend on other fields, on the trainer's options or on the data (e.g. a
        loss's paper learning rate, an MLP for point data, blocks from the image size), for the
        fields the user did not set (``explicit`` names those set). Runs once, for a new run: the
        result is what ``config.toml`` and the checkpoints record, so fill in every automatic value."""
        return config

    def check_config(self, config: ConfigT, options: TrainOptions) -> None:
        """Raise UserError for a config that cannot work. Runs on every path: new runs, resume,
        and loading a checkpoint (whose metadata may have been edited)."""

    # ---- optional: training loop --------------------------------------------------------------
    def d_steps(self, config: ConfigT) -> int:
        return int(getattr(config, "d_steps", 1))

    def schedulers(self, config: ConfigT, optimizers: dict[str, Optimizer], total_steps: int) -> dict[str, Any]:
        """Learning-rate schedulers, stepped once per training step."""
        return {}

    def train_step(self, ctx: TrainContext) -> Logs:
        """k discriminator steps, each on a fresh batch, then one generator step on the last batch
        (the minibatch algorithm of Goodfellow et al. 2014, Alg. 1)."""
        logs: Logs = {}
        batch = None
        for _ in range(max(0, self.d_steps(ctx.config))):
            batch = ctx.next_batch()
            with ctx.autocast():
                logs.update(call_hook(self, "discriminator_step", ctx, batch))
        if batch is None:
            batch = ctx.next_batch()
        with ctx.autocast():
            logs.update(call_hook(self, "generator_step", ctx, batch))
        return logs

    def preferred_precision(self, config: ConfigT, options: TrainOptions) -> str | None:
        """Veto bf16 under ``--precision auto`` (e.g. 'fp32' for 2-D point data)."""
        return None

    def preview(self, ctx: TrainContext, batch: dict[str, Tensor]) -> Preview | Tensor | Image | None:
        """What the periodic sample grid shows: images (N×C×H×W in [-1, 1]) saved as a grid, or a
        ready PIL image; wrapped in a :class:`Preview` to say what its columns and rows are (the run
        page captions them). Default: 64 samples from fixed noise if the plugin can sample."""
        if not self.can("sample"):
            return None
        images = call_hook(self, "sample", ctx.inference_modules(), ctx.config, 64, ctx.preview_generator())
        return Preview(images, title="samples from fixed noise (the same noise at every step)")

    # ---- optional: using a trained model ------------------------------------------------------
    def sample(self, modules: Modules, config: ConfigT, n: int, generator: TorchGenerator,
               **options: Any) -> Tensor:
        """Noise in, ``n`` samples out (N×C×H×W in [-1, 1]). Enables ``translate sample``."""
        raise self._missing("sample")

    def write_samples(self, samples: Tensor, path: Path, start: int = 0) -> Path:
        """Write what ``sample`` returned; the default writes images (a .png grid or a folder).
        ``start``: the index of ``samples[0]`` among all drawn (a folder is written in batches
        when this hook takes ``start``; without it, all samples come in one call)."""
        from .data.images import save_grid, to_array, write_image

        if samples.dim() != 4:
            raise UserError(f"plugin '{self.name}' made samples of shape {tuple(samples.shape)}, not images; "
                            "it must define write_samples()")
        if path.suffix.lower() == ".png":
            save_grid(path, samples)
        elif path.suffix:
            raise UserError(f"-o {path}: write a .png grid, or give a folder for one PNG per sample")
        else:
            for i, img in enumerate(samples):
                write_image(path / f"{start + i:05d}.png", to_array(img))
        return path

    def apply(self, modules: Modules, config: ConfigT, images: Tensor, **options: Any) -> Tensor:
        """Images (N×C×H×W in [-1, 1]) in, images out. Enables ``translate apply``. Declare the
        options you take (``tile``, ``overlap``, ``direction``, ...) as keyword parameters."""
        raise self._missing("apply")

    def evaluate(self, modules: Modules, config: ConfigT, out_dir: Path, **options: Any) -> dict[str, Any]:
        """Metrics of a trained model for ``translate eval``; write plots or reports to ``out_dir``.
        Declare ``progress=None`` to be handed the core's reporter: call ``progress(stage, done,
        total)`` as images are done (``progress.write(line)`` prints a line above the bar); it is
        quiet where the evaluation is (during training, ``verbose=False``)."""
        raise self._missing("evaluate")

    # ---- optional: latent space (translate interpolate / attribute / neighbours) -----------------
    def latent_dim(self, config: ConfigT) -> int:
        """Size of the noise vector z (0 = no latent space)."""
        return 0

    def class_names(self, config: ConfigT) -> tuple[str, ...]:
        """Classes of a class-conditional model, in label order (empty when unconditional)."""
        return ()

    def generate(self, modules: Modules, config: ConfigT, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Samples for given latents (N×latent_dim, on the CPU) and, if conditional, labels (N,)."""
        raise self._missing("generate")

    # ---- optional: other projects' weights, and export ------------------------------------------
    def import_weights(self, tensors: dict[str, Tensor], **options: Any) -> Imported | None:
        """Recognise a released state dict (names and shapes) and map it to this plugin's
        inference modules, or return None when the layout is not yours. A file that matches
        only in part is a UserError naming the first tensor that does not fit. Declare the
        options you take as keyword parameters (``translate import --set NAME=VALUE``; ``arch``
        receives ``--arch``). Enables ``translate import``."""
        return None

    def export_module(self, modules: Modules, config: ConfigT, **options: Any) -> nn.Module | None:
        """The network ``translate export`` traces: float32 N×C×H×W in [-1, 1] in, what ``apply``
        returns out, with any padding or value-range mapping inside and no tiling. None opts out."""
        raise self._missing("export_module")

    # ---- optional: conformance ----------------------------------------------------------------
    def example_run(self, workdir: Path) -> dict[str, Any]:
        """Keywords of a tiny training run (flag names: data flags, ``size``, ``batch_size``, config
        fields) on data written under ``workdir`` or built in; used by ``translate plugin check``.
        The default writes a folder of 32² shape images for each data flag."""
        from .data.builtin import write_example_images

        data = {flag: str(write_example_images(workdir / flag, seed=i)) for i, flag in enumerate(self.data_flags)}
        return {**data, "size": 32, "batch_size": 2}

    # ---- helpers for the core -----------------------------------------------------------------
    def _missing(self, hook: str) -> PluginError:
        return PluginError(f"plugin '{self.name or type(self).__name__}' does not implement {hook}()")

    def can(self, hook: str) -> bool:
        """Whether this plugin overrides an optional hook (sample, apply, evaluate, generate, ...)."""
        return getattr(type(self), hook) is not getattr(Plugin, hook)

    def accepted_options(self, hook: str) -> set[str] | None:
        """Keyword options that hook ``hook`` declares (None: it takes ``**options``, anything)."""
        params = list(inspect.signature(getattr(self, hook)).parameters.values())
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        positional = len(HOOKS[hook].params)
        return {p.name for p in params[positional:] if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}

    def __repr__(self) -> str:
        return f"<plugin {self.name} {self.version} from {self.distribution or '?'}>"


def label(plugin: Plugin) -> str:
    return f"plugin '{plugin.name or type(plugin).__name__}'"


def filter_options(plugin: Plugin, hook: str, options: Mapping[str, Any],
                   strict: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The options that hook ``hook`` takes. ``options`` are the core's defaults (passed only when
    the hook declares them); ``strict`` are what the user asked for: one the hook does not take is
    an error naming the plugin."""
    accepted = plugin.accepted_options(hook)
    strict = strict or {}
    unknown = sorted(k for k in strict if accepted is not None and k not in accepted)
    if unknown:
        takes = ", ".join(f"--{k.replace('_', '-')}" for k in sorted(accepted or ())) or "no options"
        raise UserError(f"{label(plugin)}: {hook} takes no {', '.join('--' + k.replace('_', '-') for k in unknown)} "
                        f"(it takes {takes})")
    merged = {k: v for k, v in options.items() if accepted is None or k in accepted}
    merged.update(strict)
    return merged


def split_settings(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings (``--set``; names with - or _) as name → text."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip().lstrip("-").replace("-", "_")
        if not sep or not name:
            raise UserError(f"--set {pair}: write NAME=VALUE, e.g. --set direction=b2a")
        values[name] = text
    return values


def parse_options(plugin: Plugin, hook: str, pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings from the command line (``--set``) as keyword options of ``hook``,
    each converted to the type of the parameter's default (bool, int, float or str)."""
    params = inspect.signature(getattr(plugin, hook)).parameters
    options: dict[str, Any] = {}
    for name, text in split_settings(pairs).items():
        default = params[name].default if name in params else None
        kind = type(default) if isinstance(default, (bool, int, float)) else str
        from .config import coerce

        options[name] = coerce(text, kind, f"--set {name}")
    return options


# ---- what hooks return ----------------------------------------------------------------------------

def _is_dict_of(value: Any, check: Callable[[Any], bool]) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and check(v) for k, v in value.items())


def _module(v: Any) -> bool:
    from torch import nn

    return isinstance(v, nn.Module)


def _tensor(v: Any) -> bool:
    import torch

    return isinstance(v, torch.Tensor)


def _scalar(v: Any) -> bool:
    import torch

    return (isinstance(v, torch.Tensor) and v.numel() == 1) or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _optimizer(v: Any) -> bool:
    import torch

    return isinstance(v, torch.optim.Optimizer)


def _scheduler(v: Any) -> bool:
    return callable(getattr(v, "step", None)) and callable(getattr(v, "state_dict", None))


def _dataset(v: Any) -> bool:
    from .interfaces import Dataset

    return isinstance(v, Dataset)


def _pil_image(v: Any) -> bool:
    from PIL import Image

    return isinstance(v, Image.Image)


def _image_or_tensor(v: Any) -> bool:
    return v is None or _tensor(v) or _pil_image(v)


def _preview(v: Any) -> bool:
    return _image_or_tensor(v) or (isinstance(v, Preview) and not v.problems())


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


RESULT_CHECKS: dict[str, Callable[[Any], bool]] = {
    "build": lambda v: _is_dict_of(v, _module) and bool(v),
    "dataset": _dataset,
    "optimizers": lambda v: _is_dict_of(v, _optimizer),
    "discriminator_step": lambda v: _is_dict_of(v, _scalar),
    "generator_step": lambda v: _is_dict_of(v, _scalar),
    "train_step": lambda v: _is_dict_of(v, _scalar),
    "check_config": lambda v: v is None,
    "d_steps": _int,
    "schedulers": lambda v: _is_dict_of(v, _scheduler),
    "preferred_precision": lambda v: v in (None, "fp32", "bf16", "fp16"),
    "preview": _preview,
    "sample": _tensor,
    "write_samples": lambda v: isinstance(v, Path),
    "apply": _tensor,
    "generate": _tensor,
    "evaluate": lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
    "latent_dim": _int,
    "class_names": lambda v: isinstance(v, (tuple, list)) and all(isinstance(c, str) for c in v),
    "example_run": lambda v: isinstance(v, dict),
    "import_weights": lambda v: v is None or isinstance(v, Imported),
    "export_module": lambda v: v is None or _module(v),
}


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        kinds = sorted({type(v).__name__ for v in value.values()})
        return f"a dict of {', '.join(kinds) or 'nothing'}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__ if value is not None else "None"


def call_hook(plugin: Plugin, hook: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``plugin.hook(*args, **kwargs)`` and check what it returns; a wrong type is one line
    naming the plugin and the hook, instead of a traceback somewhere in the core. A hook that calls
    ``exit()`` is a failure of that hook: the command must not end there, least of all with 0."""
    try:
        value = getattr(plugin, hook)(*args, **kwargs)
    except SystemExit as exc:
        if type(exc) is not SystemExit:  # the core's own quiet exits (under torchrun) pass through
            raise
        raise PluginError(f"{label(plugin)}: {hook}() called exit({exc.code!r}); a plugin reports a failure "
                          "by raising an exception") from None
    if hook == "finalize_config":
        ok = isinstance(value, plugin.Config)
    else:
        ok = RESULT_CHECKS.get(hook, lambda v: True)(value)
    if not ok and isinstance(value, Preview):
        raise PluginError(f"{label(plugin)}: {hook}() returned a Preview that cannot be shown: "
                          f"{'; '.join(value.problems())}")
    if not ok:
        raise PluginError(f"{label(plugin)}: {hook}() returned {_describe(value)}; it must return "
                          f"{HOOKS[hook].returns if hook in HOOKS else 'something else'}")
    return value


# ---- checking a plugin class when it registers --------------------------------------------------

def _own_public_names(cls: type) -> set[str]:
    """Public attributes defined by ``cls`` and its bases below :class:`Plugin`."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is Plugin or klass in Plugin.__mro__:
            continue
        names.update(n for n in vars(klass) if not n.startswith("_"))
    return names


def _signature_problem(cls: type, hook: Hook) -> str | None:
    method = getattr(cls, hook.name)
    try:
        sig = inspect.signature(method)
    except (TypeError, ValueError):
        return None
    try:
        sig.bind(None, *hook.params)
    except TypeError:
        return f"{hook.name}{sig} must accept ({', '.join(hook.params)})"
    return None


def contract_problems(plugin_cls: type, data_flags: Mapping[str, str] | None = None) -> list[str]:
    """Everything about ``plugin_cls`` that breaks the contract (empty when it conforms)."""
    problems = []
    plugin_cls_name = plugin_cls.__name__
    description = getattr(plugin_cls, "description", "")
    if not description:
        problems.append("no description")
    elif not isinstance(description, str) or "\n" in description.strip():
        problems.append(f"description is {type(description).__name__ if not isinstance(description, str) else 'several lines'}; "
                        "it must be one line of text")
    config_cls = getattr(plugin_cls, "Config", None)
    if config_cls is None or not dataclasses.is_dataclass(config_cls):
        problems.append("Config is not a dataclass")
    else:
        missing = [f.name for f in dataclasses.fields(config_cls)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            problems.append(f"Config fields without defaults: {', '.join(missing)}")
        from .options import TrainOptions

        clash = {f.name for f in dataclasses.fields(config_cls)} & (
            {f.name for f in dataclasses.fields(TrainOptions)} | set(data_flags or plugin_cls.data_flags)
            | {"out", "resume", "config"}
        )
        if clash:
            problems.append(f"Config fields clash with the trainer's options: {', '.join(sorted(clash))}")
        unknown = sorted(set(getattr(plugin_cls, "paper", {})) - {f.name for f in dataclasses.fields(config_cls)})
        if unknown:
            problems.append(f"paper names no Config field: {', '.join(unknown)}")
    for name, hook in HOOKS.items():
        overridden = getattr(plugin_cls, name) is not getattr(Plugin, name)
        if hook.required and not overridden:
            if name in STEP_HOOKS and plugin_cls.train_step is not Plugin.train_step:
                continue
            problems.append(f"missing hook {name}()" + (" (or override train_step)" if name in STEP_HOOKS else ""))
        elif overridden:
            problem = _signature_problem(plugin_cls, hook)
            if problem:
                problems.append(problem)
    if not getattr(plugin_cls, "inference_modules", ()):
        problems.append("inference_modules is empty")
    if getattr(plugin_cls, "channels_last", True) not in (True, False, "always"):
        problems.append(f"channels_last is {plugin_cls.channels_last!r}; use True, False or \"always\"")
    if getattr(plugin_cls, "tta", None) not in (None, *TTA_MODES):
        problems.append(f"tta is {plugin_cls.tta!r}; use None, {' or '.join(repr(m) for m in TTA_MODES)}")
    problems += declaration_problems(getattr(plugin_cls, "metric_goals", {}))
    from .catalogue_file import catalogue_problems

    problems += catalogue_problems(plugin_cls)
    known = set(HOOKS) | CONTRACT_ATTRIBUTES
    for extra in sorted(_own_public_names(plugin_cls) - known - set(getattr(plugin_cls, "helpers", ()))):
        close = difflib.get_close_matches(extra, sorted(known), n=1, cutoff=0.75)
        hint = f"did you mean {close[0]}()? " if close and close[0] in HOOKS else (
            f"did you mean {close[0]}? " if close else "")
        problems.append(f"{extra} is not part of the plugin contract ({hint}start helpers' names with _ or list "
                        f"them in {plugin_cls_name}.helpers)")
    return problems


def validate_plugin(target: Any, info: PluginInfo | None = None) -> Plugin:
    """Check an entry point's target against the contract; every error names the plugin."""
    where = f"plugin '{info.name}' ({info.distribution})" if info else f"plugin {target!r}"
    plugin_cls = target if isinstance(target, type) else type(target)
    if not issubclass(plugin_cls, Plugin):
        raise PluginError(f"{where}: entry point must name a translate.plugin.Plugin subclass, got {target!r}")
    problems = contract_problems(plugin_cls)
    if problems:
        raise PluginError(f"{where} does not satisfy the plugin contract: {'; '.join(problems)}")
    plugin = _instantiate(target, where) if isinstance(target, type) else target
    if info is not None:
        plugin.name, plugin.version, plugin.distribution = info.name, info.version, info.distribution
    return plugin


def _instantiate(plugin_cls: type, where: str) -> Plugin:
    """``plugin_cls()``; whatever its ``__init__`` raises (even ``exit()``) is that plugin's error alone."""
    from .stopping import CtrlCWatch

    try:
        with CtrlCWatch() as watch:
            return plugin_cls()
    except KeyboardInterrupt as exc:
        if watch.is_real(exc):
            raise
        raise PluginError(f"{where}: {plugin_cls.__name__}() raised KeyboardInterrupt (no Ctrl-C was pressed)") from None
    except SystemExit as exc:
        raise PluginError(f"{where}: {plugin_cls.__name__}() called exit({exc.code!r})") from None
    except Exception as exc:  # noqa: BLE001 - whatever it is, it is this plugin's alone
        raise PluginError(f"{where}: {plugin_cls.__name__}() failed: {type(exc).__name__}: {exc}") from None

