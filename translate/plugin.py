"""The plugin contract.

A plugin is a subclass of :class:`Plugin` registered under the ``translate.plugins`` entry-point
group (``name = "package.module:PluginClass"``). The core never names a plugin: it only calls the
hooks below, so built-in plugins and third-party ones are treated exactly alike.

Keep the module that the entry point names light (no top-level ``import torch``): it is imported
for ``translate train NAME --help``. Import networks and losses inside the hooks.

What a plugin must define
-------------------------
Class attributes
    ``description``  one line for ``translate plugins``.
    ``Config``       a dataclass; every field has a default (the paper's, cited in its help).
                     Fields become ``translate train NAME`` flags and config-file keys. A field
                     named ``channels`` (1 or 3) makes the core read images as grayscale or RGB.
Hooks (called in this order by the trainer)
    ``build(config, options) -> dict[str, nn.Module]``
        Every network, by role ("generator", "discriminator", ...). All are saved for resume;
        those named in ``inference_modules`` go into ``model.safetensors``. Also called to load a
        checkpoint for apply/sample: load no training-only weights (e.g. VGG) here.
    ``dataset(config, options, data) -> translate.interfaces.Dataset``
        ``data`` maps each of ``data_flags`` to the value the user gave (a folder or built-in name).
    ``optimizers(config, modules) -> dict[str, torch.optim.Optimizer]``
    ``discriminator_step(ctx, batch) -> dict[str, Tensor]`` and
    ``generator_step(ctx, batch) -> dict[str, Tensor]``
        One update each, through ``ctx.optimize(optimizer_name, loss)``; return scalars to log. The
        default ``train_step`` runs ``d_steps(config)`` discriminator steps, each on a fresh batch,
        then one generator step (the minibatch algorithm of Goodfellow et al. 2014, Alg. 1).

What a plugin may define
------------------------
    ``data_flags``        data options, default ``{"data": ...}``; two-domain plugins use a and b.
    ``train_defaults``    overrides of :class:`translate.options.TrainOptions` defaults.
    ``inference_modules`` modules that apply/sample need (and EMA tracks); default ("generator",).
    ``channels_last``     convert modules and 4-D batches to channels_last (default True).
    ``finalize_config(config, explicit, data) -> config``  defaults that depend on other fields
                          or on the data (e.g. a loss's paper learning rate, MLP for point data)
                          for the fields the user did not set (``explicit`` names those set).
    ``d_steps(config)``   discriminator steps per generator step (default ``config.d_steps`` or 1).
    ``schedulers(config, optimizers, total_steps) -> dict[str, LRScheduler]``  stepped once per step.
    ``train_step(ctx) -> dict[str, Tensor]``  replace the k-D-steps-then-G loop entirely.
    ``preferred_precision(config, options) -> str | None``  veto bf16 (e.g. for 2-D point data).
    ``preview(ctx, batch) -> Tensor``  images (or N×2 points) for the periodic sample grid.
    ``sample(modules, config, n, generator, **options) -> Tensor``  noise in, images out
                          (N×C×H×W in [-1, 1]) or points (N×2). Enables ``translate sample``.
    ``apply(modules, config, images, **options) -> Tensor``  image batch in [-1, 1] in, images
                          out. Enables ``translate apply``; unknown options must raise UserError.
    ``evaluate(modules, config, out_dir, **options) -> dict[str, float]``  ``translate eval``.
Latent-space hooks (enable ``translate interpolate``, ``attribute`` and ``neighbours``)
    ``latent_dim(config) -> int``  size of the noise vector z (0 = no latent space).
    ``class_names(config) -> tuple[str, ...]``  classes of a class-conditional model, in label
                          order (empty for unconditional models); ``--class NAME`` picks one.
    ``generate(modules, config, z, labels=None) -> Tensor``  given latents (N×latent_dim, on the
                          CPU) and, for conditional models, class indices (N,), the samples, as
                          ``sample`` returns them. ``sample`` = ``generate`` of fresh noise.

Training state that is not a module or optimizer (e.g. CycleGAN's image pools) goes into
``ctx.buffers``: a dict of tensors saved with the training state and restored on ``--resume``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import PluginError

if TYPE_CHECKING:
    from .registry import PluginInfo

REQUIRED_HOOKS = ("build", "dataset", "optimizers")


class Plugin:
    """Base class of every plugin; see the module docstring for the contract."""

    # Set by the registry when loaded from an entry point.
    name: str = ""
    version: str = "0"
    distribution: str = ""

    description: ClassVar[str] = ""
    Config: ClassVar[type]
    data_flags: ClassVar[dict[str, str]] = {"data": "folder of training images (recursive), or a built-in dataset name"}
    train_defaults: ClassVar[dict[str, Any]] = {}
    inference_modules: ClassVar[tuple[str, ...]] = ("generator",)
    channels_last: ClassVar[bool] = True

    # ---- required -------------------------------------------------------------------------
    def build(self, config: Any, options: Any) -> dict[str, Any]:
        raise self._missing("build")

    def dataset(self, config: Any, options: Any, data: dict[str, str]) -> Any:
        raise self._missing("dataset")

    def optimizers(self, config: Any, modules: dict[str, Any]) -> dict[str, Any]:
        raise self._missing("optimizers")

    def discriminator_step(self, ctx: Any, batch: dict[str, Any]) -> dict[str, Any]:
        raise self._missing("discriminator_step")

    def generator_step(self, ctx: Any, batch: dict[str, Any]) -> dict[str, Any]:
        raise self._missing("generator_step")

    # ---- optional -------------------------------------------------------------------------
    def finalize_config(self, config: Any, explicit: set[str], data: dict[str, str]) -> Any:
        return config

    def d_steps(self, config: Any) -> int:
        return int(getattr(config, "d_steps", 1))

    def schedulers(self, config: Any, optimizers: dict[str, Any], total_steps: int) -> dict[str, Any]:
        return {}

    def train_step(self, ctx: Any) -> dict[str, Any]:
        """k discriminator steps, each on a fresh batch, then one generator step on the last batch."""
        logs: dict[str, Any] = {}
        batch = None
        for _ in range(max(0, self.d_steps(ctx.config))):
            batch = ctx.next_batch()
            with ctx.autocast():
                logs.update(self.discriminator_step(ctx, batch))
        if batch is None:
            batch = ctx.next_batch()
        with ctx.autocast():
            logs.update(self.generator_step(ctx, batch))
        return logs

    def preferred_precision(self, config: Any, options: Any) -> str | None:
        return None

    def preview(self, ctx: Any, batch: dict[str, Any]) -> Any:
        """Default preview: samples from fixed noise if the plugin can sample, else nothing."""
        if type(self).sample is Plugin.sample:
            return None
        return self.sample(ctx.inference_modules(), ctx.config, 64, ctx.preview_generator())

    def sample(self, modules: dict[str, Any], config: Any, n: int, generator: Any, **options: Any) -> Any:
        raise self._missing("sample")

    def apply(self, modules: dict[str, Any], config: Any, images: Any, **options: Any) -> Any:
        raise self._missing("apply")

    def evaluate(self, modules: dict[str, Any], config: Any, out_dir: Any, **options: Any) -> dict[str, float]:
        raise self._missing("evaluate")

    def latent_dim(self, config: Any) -> int:
        return 0

    def class_names(self, config: Any) -> tuple[str, ...]:
        return ()

    def generate(self, modules: dict[str, Any], config: Any, z: Any, labels: Any = None) -> Any:
        raise self._missing("generate")

    # ---- helpers for the core ---------------------------------------------------------------
    def _missing(self, hook: str) -> PluginError:
        return PluginError(f"plugin '{self.name or type(self).__name__}' does not implement {hook}()")

    def can(self, hook: str) -> bool:
        """Whether this plugin overrides an optional hook (sample, apply, evaluate, generate)."""
        return getattr(type(self), hook) is not getattr(Plugin, hook)

    def __repr__(self) -> str:
        return f"<plugin {self.name} {self.version} from {self.distribution or '?'}>"


def validate_plugin(target: Any, info: "PluginInfo | None" = None) -> Plugin:
    """Check an entry point's target against the contract; every error names the plugin."""
    label = f"plugin '{info.name}' ({info.distribution})" if info else f"plugin {target!r}"
    plugin_cls = target if isinstance(target, type) else type(target)
    if not issubclass(plugin_cls, Plugin):
        raise PluginError(f"{label}: entry point must name a translate.plugin.Plugin subclass, got {target!r}")
    plugin = target() if isinstance(target, type) else target
    if info is not None:
        plugin.name, plugin.version, plugin.distribution = info.name, info.version, info.distribution
    problems = []
    if not plugin.description:
        problems.append("no description")
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
            {f.name for f in dataclasses.fields(TrainOptions)} | set(plugin.data_flags)
        )
        if clash:
            problems.append(f"Config fields clash with the trainer's options: {', '.join(sorted(clash))}")
    for hook in REQUIRED_HOOKS:
        if getattr(plugin_cls, hook) is getattr(Plugin, hook):
            problems.append(f"missing hook {hook}()")
    overrides_loop = plugin_cls.train_step is not Plugin.train_step
    for hook in ("discriminator_step", "generator_step"):
        if not overrides_loop and getattr(plugin_cls, hook) is getattr(Plugin, hook):
            problems.append(f"missing hook {hook}() (or override train_step)")
    if not plugin.inference_modules:
        problems.append("inference_modules is empty")
    if problems:
        raise PluginError(f"{label} does not satisfy the plugin contract: {'; '.join(problems)}")
    return plugin
