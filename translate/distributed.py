"""Training one model on several processes: ``torchrun --nproc_per_node N -m translate train ...``.

The trainer looks for the variables torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, plus
``MASTER_ADDR``/``MASTER_PORT``); without them, or with ``WORLD_SIZE=1``, nothing here runs and
training is the single process it always was. With them, :func:`init_from_env` joins the process
group (NCCL on CUDA, each process on GPU ``LOCAL_RANK``; gloo on CPU) and returns a
:class:`Session` that the trainer uses for every collective operation.

**How the gradients are synchronised, and why not with the DistributedDataParallel wrapper.**
DistributedDataParallel (DDP) gives each process a replica of the model, feeds it a different
shard of the global batch, and averages the gradients over the processes before the optimiser
steps, so every replica makes the same update: that of one process on the whole global batch, for
losses that are means over the batch. We do exactly this, explicitly: :meth:`Session.average_gradients`
all-reduces (sums, then divides by the world size) the gradients of one optimiser's parameters,
flattened into a few large buckets, after ``backward`` and before ``optimizer.step`` (inside
``TrainContext.optimize``), and the parameters and buffers are broadcast from rank 0 once at the
start. We do not wrap the modules in ``torch.nn.parallel.DistributedDataParallel`` because a GAN
step is what DDP's hooks handle worst:

* D runs forward several times before one backward (real and fake batches, the gradient penalty's
  interpolates), and G runs through D while D is frozen: DDP's autograd hooks then see parameters
  that received no gradient, or gradients that are marked ready twice, and need
  ``find_unused_parameters`` / ``static_graph`` settings that differ between the steps of one plugin.
* R1 and WGAN-GP differentiate D's output with respect to its input (``create_graph=True``) and then
  backpropagate through that gradient. DDP's reducer hooks fire during that inner ``autograd.grad``
  too: pytorch/pytorch#47562 reports wrong gradient reduction with a gradient penalty under DDP,
  and #63812 that ``backward(create_graph=True)`` through DDP raises.
* Plugins read attributes of their modules (``generator.latent_dim``) and call them with extra
  arguments; a wrapper changes the object they see, and its ``module.`` prefix leaks into checkpoints.

Averaging after ``backward`` works with any number of forwards, frozen modules and double backward,
keeps ``ctx.modules`` the plain modules (checkpoints need no unwrapping and load in one process), and
leaves frozen networks that no optimiser updates (SRGAN's VGG) entirely alone. What it gives up is
DDP's overlap of the all-reduce with the backward pass: the gradients are reduced after backward,
in buckets of at most ``BUCKET_ELEMENTS`` that are all in flight at once. For GAN-sized networks on
one machine that costs little; NVIDIA's StyleGAN3 training loop synchronises its GAN the same way
(one flattened all-reduce of the gradients before each optimiser step).

**Batch norm.** With more than one process every ``BatchNorm1d/2d/3d`` becomes a
:class:`SyncBatchNorm` that computes the batch statistics over the global batch (one all-reduce of
per-channel sums per forward in training), so a batch-norm network trains as on one process with the
global batch; ``TRANSLATE_SYNC_BN=0`` keeps per-process statistics instead. It is ours, not
``torch.nn.SyncBatchNorm``, for two reasons: torch's runs only on GPUs (not on the CPU/gloo that the
tests use), and its backward is not differentiable twice, which R1 or WGAN-GP through a batch-norm
discriminator needs. Ours is written with differentiable operations around an all-reduce whose
backward is again an all-reduce, so double backward works. The state-dict keys are those of
``BatchNorm``, so checkpoints are unchanged. Its statistics are sums about the running mean (the
same on every rank), so ``E[(x-K)²] - E[x-K]²`` does not cancel badly; measured against
``BatchNorm`` on the whole batch: outputs, gradients (also through a gradient) and running
statistics agree to ~1e-6.

**Noise.** ``ctx.randn(n, ...)`` draws ``world_size × n`` rows from a generator that is identical on
every process and takes this rank's rows (``rank::world_size``), the rows its data shard pairs with:
a run on W processes of batch b draws exactly the noise of one process with batch W·b. Other random
draws (dropout, DiffAugment, WGAN-GP's ε, CycleGAN's pool coin flips) use torch's global RNG, seeded
differently on each rank (from ``--seed`` and the rank, restored per rank on resume).

Faults: :class:`Quiet` ends a rank without a message when another rank reports the error (rank 0
when they share it); a collective with a dead peer raises (gloo: a RuntimeError at once, when the
peer's sockets close; NCCL: ``DistError``, or torchrun's agent terminates the survivors first),
which the trainer turns into one line on rank 0 (:func:`is_distributed_error`). Every collective
uses the process group's timeout, ``TRANSLATE_DIST_TIMEOUT`` seconds (default 1800): it bounds how
long the other ranks wait while rank 0 alone evaluates or writes a checkpoint.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
TIMEOUT_ENV = "TRANSLATE_DIST_TIMEOUT"
SYNC_BN_ENV = "TRANSLATE_SYNC_BN"
DEFAULT_TIMEOUT_S = 1800.0
BUCKET_ELEMENTS = 25_000_000  # 100 MB of fp32 gradients per all-reduce at most

# The session whose collectives SyncBatchNorm uses; set only while a training step runs, so that
# rank 0's previews and evaluations (which the other ranks do not run) never wait for them.
_ACTIVE: "Session | None" = None


class Quiet(SystemExit):
    """Ends this process with ``code`` and no message: another rank reports the reason (rank 0,
    when all ranks share the error or the interruption), so the job prints it once."""


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands among torchrun's processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def detect() -> DistEnv:
    """torchrun's environment, read without importing torch (cheap; the CLI calls it)."""
    if not all(name in os.environ for name in ENV_VARS):
        return DistEnv()
    try:
        env = DistEnv(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    except ValueError:
        from .errors import UserError

        raise UserError(f"RANK={os.environ['RANK']} WORLD_SIZE={os.environ['WORLD_SIZE']} LOCAL_RANK="
                        f"{os.environ['LOCAL_RANK']}: not integers; start the run with torchrun") from None
    return env if env.world_size > 1 else DistEnv()


def is_main_process() -> bool:
    return detect().is_main


def timeout_seconds() -> float:
    value = os.environ.get(TIMEOUT_ENV)
    if not value:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        from .errors import UserError

        raise UserError(f"{TIMEOUT_ENV}={value}: give the seconds a process may wait for the others (e.g. 3600)")
    return seconds


def init_from_env(device_type: str) -> "Session | None":
    """Join torchrun's process group (NCCL for ``cuda``, gloo for ``cpu``); ``None`` when not
    launched by torchrun with more than one process. A group that the caller already initialised
    (translate.train called from the user's own distributed script) is used as it is."""
    env = detect()
    if not env.enabled:
        return None
    import torch
    import torch.distributed as dist

    from .errors import UserError

    if not dist.is_available():
        raise UserError("torchrun: this torch build has no torch.distributed; install an official torch build")
    timeout = datetime.timedelta(seconds=timeout_seconds())
    owned = not dist.is_initialized()
    if device_type == "cuda":
        if env.local_rank >= torch.cuda.device_count():
            raise UserError(f"torchrun: LOCAL_RANK {env.local_rank} but only {torch.cuda.device_count()} CUDA "
                            "device(s) here; use --nproc_per_node at most the number of GPUs")
        torch.cuda.set_device(env.local_rank)
    if owned:
        # torch._dynamo (imported by the first optimiser torch builds) keeps a reference to the
        # default group when it is imported after the group exists: destroy_process_group then
        # leaves gloo's threads running, and the process died at exit with SIGABRT ("terminate
        # called without an active exception") in 1 run of 2 to 10 (torch 2.14, measured). Imported
        # first, it holds nothing; the optimiser would pay for that import anyway.
        import torch._dynamo  # noqa: F401

        backend = "nccl" if device_type == "cuda" else "gloo"
        kwargs = {"device_id": torch.device("cuda", env.local_rank)} if device_type == "cuda" else {}
        dist.init_process_group(backend, timeout=timeout, **kwargs)
    if dist.get_world_size() != env.world_size or dist.get_rank() != env.rank:
        raise UserError(f"torch.distributed reports rank {dist.get_rank()} of {dist.get_world_size()}, the "
                        f"environment rank {env.rank} of {env.world_size}; start the run with torchrun")
    # Flags, barriers and small objects go through gloo on the CPU: they never wait on (or
    # synchronise with) the GPU stream, and gloo's barrier honours the timeout.
    control = dist.new_group(backend="gloo", timeout=timeout) if dist.get_backend() != "gloo" else None
    session = Session(env, dist.get_backend(), control, owned)
    session.barrier()  # every rank has checked its flags (prepare) before rank 0 writes anything
    return session


class Session:
    """A joined process group and the collective operations the trainer needs. Every method is
    collective: all ranks call it, in the same order."""

    def __init__(self, env: DistEnv, backend: str, control, owned: bool):
        self.env, self.backend, self.control, self.owned = env, backend, control, owned
        self.sync_bn = os.environ.get(SYNC_BN_ENV, "1").strip().lower() not in ("0", "false", "no", "off")

    @property
    def rank(self) -> int:
        return self.env.rank

    @property
    def world_size(self) -> int:
        return self.env.world_size

    @property
    def is_main(self) -> bool:
        return self.env.is_main

    def describe(self) -> str:
        return f"{self.world_size} processes ({self.backend})"

    # ---- models ----------------------------------------------------------------------------------
    def prepare_modules(self, modules: dict[str, Any]) -> dict[str, Any]:
        """SyncBatchNorm in place of BatchNorm (unless TRANSLATE_SYNC_BN=0), then rank 0's weights
        and buffers on every rank."""
        if self.sync_bn:
            modules = {name: convert_batchnorm(m) for name, m in modules.items()}
        self.broadcast([t for m in modules.values() for t in (*m.parameters(), *m.buffers())])
        return modules

    def broadcast(self, tensors: list) -> None:
        """Rank 0's values into ``tensors`` on every rank, one flattened broadcast per dtype."""
        import torch.distributed as dist
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        for group in _by_kind(tensors):
            flat = _flatten_dense_tensors([t.detach() for t in group])
            dist.broadcast(flat, src=0)
            for t, value in zip(group, _unflatten_dense_tensors(flat, group)):
                t.data.copy_(value)

    def average_gradients(self, params: Iterable) -> None:
        """Replace the gradient of each of ``params`` by its mean over the ranks: DDP's all-reduce,
        after backward. Parameters without a gradient are left out (on every rank alike: the ranks
        run the same graph)."""
        import torch.distributed as dist
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        grads = [p.grad for p in params if p.grad is not None]
        pending = []
        for group in _by_kind(grads):
            for bucket in _buckets(group, BUCKET_ELEMENTS):
                flat = _flatten_dense_tensors(bucket)
                pending.append((dist.all_reduce(flat, async_op=True), flat, bucket))
        for work, flat, bucket in pending:
            work.wait()
            flat.div_(self.world_size)
            for g, value in zip(bucket, _unflatten_dense_tensors(flat, bucket)):
                g.copy_(value)

    @contextlib.contextmanager
    def synchronising(self) -> Iterator[None]:
        """Batch norm syncs its statistics inside this block (a training step) only."""
        global _ACTIVE
        previous, _ACTIVE = _ACTIVE, self
        try:
            yield
        finally:
            _ACTIVE = previous

    def replicas_agree(self, modules: Iterable) -> bool:
        """Whether every rank holds the same parameters (bit for bit: the same averaged gradients,
        applied by the same optimiser). A float64 checksum per rank, compared."""
        import torch

        total = torch.zeros(2, dtype=torch.float64)
        with torch.no_grad():
            sums = [torch.stack([q.sum(), (q * q).sum()])
                    for q in (p.detach().double() for m in modules for p in m.parameters())]
            if sums:
                total = torch.stack(sums).sum(0).cpu()
        sums = self.all_gather_object(total.tolist())
        return all(s == sums[0] for s in sums)

    # ---- control: flags, barriers, objects (CPU, gloo) -------------------------------------------
    def _cpu(self, values: list, dtype=None):
        import torch

        return torch.tensor(values, dtype=dtype or torch.float64)

    def max_int(self, value: int) -> int:
        """The largest ``value`` over the ranks (e.g. a stop request's signal number, or 0)."""
        import torch
        import torch.distributed as dist

        t = self._cpu([int(value)], torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.control)
        return int(t.item())

    def mean_values(self, values: dict[str, float]) -> dict[str, float]:
        """The mean over the ranks of each value (keys in the same order on every rank)."""
        import torch.distributed as dist

        if not values:
            return {}
        t = self._cpu(list(values.values()))
        dist.all_reduce(t, group=self.control)
        t /= self.world_size
        return dict(zip(values, t.tolist()))

    def all_gather_object(self, obj: Any) -> list:
        import torch.distributed as dist

        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj, group=self.control)
        return out

    def settle(self, error: BaseException | None) -> None:
        """All ranks learn which ranks failed (also a barrier). A failed rank raises its error,
        except a non-zero rank whose error rank 0 shares (rank 0 prints it once); ranks that did
        not fail leave quietly (the failed rank prints the reason)."""
        import torch.distributed as dist

        flags = self._cpu([0.0] * self.world_size)
        flags[self.rank] = 1.0 if error is not None else 0.0
        dist.all_reduce(flags, group=self.control)
        if not flags.any():
            return
        if error is None:
            raise Quiet(1)
        if self.rank != 0 and flags[0]:
            raise Quiet(1)
        raise error

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier(group=self.control)

    def linger(self, seconds: float = 10.0) -> None:
        """Before a quiet rank exits: wait (at most ``seconds``) until the rank that reports the
        error has exited, so that torchrun names that rank as the root cause, not this one. The
        reporting rank never joins this barrier: it fails when that rank's connection closes (or
        torchrun ends this process first). Past ``seconds`` (the reporting rank lives on, e.g.
        translate.train called from a script) this rank leaves the group as it is."""
        import threading

        import torch.distributed as dist

        def wait() -> None:
            with contextlib.suppress(Exception):
                dist.barrier(group=self.control)

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        waiter.join(seconds)
        if waiter.is_alive():
            self.owned = False  # a barrier is still pending: do not destroy the group under it

    def close(self) -> None:
        """Leave the process group (only one this module joined)."""
        import torch.distributed as dist

        if self.owned and dist.is_initialized():
            with contextlib.suppress(Exception):
                if self.control is not None:
                    dist.destroy_process_group(self.control)
                dist.destroy_process_group()


def _by_kind(tensors: list) -> list[list]:
    """Tensors grouped by (device, dtype), order kept: one flattened buffer per group."""
    groups: dict[tuple, list] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    return list(groups.values())


def _buckets(tensors: list, limit: int) -> Iterator[list]:
    bucket, size = [], 0
    for t in tensors:
        if bucket and size + t.numel() > limit:
            yield bucket
            bucket, size = [], 0
        bucket.append(t)
        size += t.numel()
    if bucket:
        yield bucket


# What gloo and NCCL put in the RuntimeError of a collective whose peer is gone or timed out, e.g.
# "[.../gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:7367: Connection reset by peer".
_PEER_LOST = ("gloo", "nccl", "connection reset", "connection closed", "broken pipe", "timed out", "timeout")


def is_distributed_error(exc: BaseException) -> bool:
    """A collective that failed because another rank died, closed its connection or timed out
    (``torch.distributed.DistError``, or the plain RuntimeError that gloo raises from ``wait``)."""
    try:
        from torch.distributed import DistError
    except ImportError:  # pragma: no cover - torch without distributed
        return False
    if isinstance(exc, DistError):
        return True
    text = str(exc).lower()
    return type(exc) is RuntimeError and any(marker in text for marker in _PEER_LOST)


# ---- batch norm over the global batch -------------------------------------------------------------

class _AllReduceSum:
    """Sum over the ranks, differentiable any number of times: the adjoint of an all-reduce sum is
    an all-reduce sum of the incoming gradients (as torch.distributed.nn.functional.all_reduce,
    which is deprecated)."""

    fn = None

    @classmethod
    def apply(cls, tensor):
        if cls.fn is None:
            import torch
            import torch.distributed as dist

            class Fn(torch.autograd.Function):
                @staticmethod
                def forward(ctx, x):
                    out = x.clone(memory_format=torch.contiguous_format)
                    dist.all_reduce(out)
                    return out

                @staticmethod
                def backward(ctx, grad):
                    return Fn.apply(grad)

            cls.fn = Fn
        return cls.fn.apply(tensor)


def _batchnorm_class():
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm

    class SyncBatchNorm(_BatchNorm):
        """BatchNorm whose training statistics cover the batches of all ranks (during a training
        step of a distributed run; otherwise it is exactly BatchNorm). Differentiable twice."""

        def _check_input_dim(self, input: torch.Tensor) -> None:
            if input.dim() < 2:
                raise ValueError(f"expected at least 2-D input (got {input.dim()}-D)")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            session = _ACTIVE
            use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
            if session is None or not use_batch_stats:
                return super().forward(x)
            self._check_input_dim(x)
            c = x.shape[1]
            dims = [0, *range(2, x.dim())]
            xf = x.float()
            # Sums about a shift K that every rank shares (the running mean, when tracked): close to
            # the batch mean, so E[(x-K)²] - E[x-K]² does not cancel catastrophically.
            shift = (self.running_mean.detach().float() if self.running_mean is not None
                     else torch.zeros(c, device=x.device))
            view = (1, c, *([1] * (x.dim() - 2)))
            centred = xf - shift.view(view)
            count = torch.full((1,), float(x.numel() // c), device=x.device)
            stats = _AllReduceSum.apply(torch.cat([centred.sum(dims), (centred * centred).sum(dims), count]))
            n = stats[-1]
            mean_c = stats[:c] / n
            var = (stats[c:2 * c] / n - mean_c * mean_c).clamp_min(0)
            mean = mean_c + shift
            if self.training and self.track_running_stats:
                with torch.no_grad():
                    self.num_batches_tracked.add_(1)
                    factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                              else self.momentum)
                    unbiased = var.detach() * (n / (n - 1).clamp_min(1))
                    self.running_mean.mul_(1 - factor).add_(mean.detach().to(self.running_mean.dtype), alpha=factor)
                    self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)
            y = (xf - mean.view(view)) * torch.rsqrt(var + self.eps).view(view)
            if self.affine:
                y = y * self.weight.view(view) + self.bias.view(view)
            return y.to(x.dtype).contiguous(memory_format=_layout(x))

    return SyncBatchNorm


def _layout(x):
    import torch

    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


_SYNC_BN = None


def sync_batchnorm_class():
    global _SYNC_BN
    if _SYNC_BN is None:
        _SYNC_BN = _batchnorm_class()
    return _SYNC_BN


def convert_batchnorm(module):
    """``module`` with each BatchNorm1d/2d/3d replaced by :class:`SyncBatchNorm` sharing its
    parameters and buffers (so optimisers built before or after see the same tensors)."""
    import torch

    cls = sync_batchnorm_class()
    kinds = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
    if type(module) in kinds:
        new = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        converted = convert_batchnorm(child)
        if converted is not child:
            setattr(module, name, converted)
    return module

