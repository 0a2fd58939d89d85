"""ColossalAI CPU compatibility layer: lets the Booster plugins train on CPU processes over gloo.

ColossalAI 0.5.0 ships a ``CpuAccelerator``, but large parts of the library still assume a
CUDA/NPU device. :func:`apply_cpu_compat` installs small, named, reversible patches (each one
documents the ColossalAI or torch behaviour it works around) and :func:`plugin_kwargs_for_cpu`
gives the plugin arguments a CPU run needs. Call both before building a plugin::

    apply_cpu_compat()
    plugin = LowLevelZeroPlugin(stage=1, precision="fp32", **plugin_kwargs_for_cpu("zero"))

Everything here is written against colossalai 0.5.0 exactly (several patches replace or wrap
private methods), so :func:`apply_cpu_compat` refuses any other version instead of guessing.
Which patches each setup reaches (measured: torch 2.13.0 CPU build, transformers 4.51.3,
2 processes over gloo, tiny BERT; tests/engine/test_cpu_compat.py trains each one):

===========================  ==================================================================
setup                        patches it needs
===========================  ==================================================================
TorchDDPPlugin               none
HybridParallel tp=1 pp=1     none
LowLevelZeroPlugin 1 and 2   ``low_level_zero_sanity_check``, ``cpu_accelerator_streams``
overlap_communication=True   + ``cpu_record_stream_noop``, ``cpu_accelerator_sync``
HybridParallel tp>1          ``cpu_accelerator_rng`` (+ ``randomizer_single_generator``)
HybridParallel pp>1          ``hccl_unavailable`` (+ the ZeRO ones with zero_stage>0)
GeminiPlugin                 ``torch_cpu_adam``, ``gemini_cpu_chunk_placement``,
                             ``cpu_accelerator_streams``, and :func:`plugin_kwargs_for_cpu`
fp16 (ZeRO/hybrid/Gemini)    ``cpu_accelerator_device_count``
optimizer checkpoint load    ``cpu_accelerator_sync``
===========================  ==================================================================

Not fixable here: HybridParallelPlugin refuses ZeRO with fp32 by design, and 0.5.0 has no
shardformer policy for ALBERT, RoBERTa or MPNet (so no tp/pp for those models).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import colossalai
import torch
import torch.distributed as dist
from colossalai.accelerator import get_accelerator
from colossalai.accelerator.cpu_accelerator import CpuAccelerator
from colossalai.nn.optimizer import cpu_adam as _cpu_adam_module
from colossalai.shardformer.layer.utils import Randomizer
from colossalai.zero.gemini.chunk.chunk import Chunk
from colossalai.zero.low_level.low_level_optim import LowLevelZeroOptimizer

from .cpu_adam import TorchCPUAdamKernel, _TorchCPUAdamLoader

__all__ = [
    "SUPPORTED_COLOSSALAI_VERSION",
    "ColossalAIVersionError",
    "CpuStream",
    "TorchCPUAdamKernel",
    "apply_cpu_compat",
    "applied_patches",
    "check_colossalai_version",
    "patch_names",
    "plugin_kwargs_for_cpu",
    "remove_cpu_compat",
]

SUPPORTED_COLOSSALAI_VERSION = "0.5.0"
"""The only colossalai version these patches were written and measured against."""


class ColossalAIVersionError(RuntimeError):
    """The installed colossalai is not the version this compatibility layer was written for."""


def check_colossalai_version(installed: str | None = None) -> None:
    """Raise :class:`ColossalAIVersionError` unless colossalai is exactly 0.5.0."""
    installed = colossalai.__version__ if installed is None else installed
    if installed != SUPPORTED_COLOSSALAI_VERSION:
        raise ColossalAIVersionError(
            f"etdecl.engine.cpu_compat was written for colossalai=={SUPPORTED_COLOSSALAI_VERSION}"
            f" but colossalai=={installed} is installed. Its patches replace private ColossalAI"
            " methods and must be re-checked against the new version (re-run"
            " tests/engine/test_cpu_compat.py after updating them), or install"
            f" colossalai=={SUPPORTED_COLOSSALAI_VERSION}."
        )


def _on_cpu() -> bool:
    return get_accelerator().name == "cpu"


# ── bookkeeping: every patch records what it replaced, so it can be undone ────────────────────

_MISSING: Any = object()
_APPLIED: dict[str, list[tuple[Any, str, Any]]] = {}
_current_patch: list[tuple[Any, str, Any]] | None = None


def _replace(owner: Any, attr: str, new: Any) -> None:
    """Set ``owner.attr = new`` and remember the raw original (descriptor, or missing)."""
    assert _current_patch is not None, "_replace is only called from inside a patch function"
    _current_patch.append((owner, attr, vars(owner).get(attr, _MISSING)))
    setattr(owner, attr, new)


def _restore(records: list[tuple[Any, str, Any]]) -> None:
    for owner, attr, original in reversed(records):
        if original is _MISSING:
            delattr(owner, attr)
        else:
            setattr(owner, attr, original)


# ── ZeRO (LowLevelZeroOptimizer) ───────────────────────────────────────────────────────────────


def patch_low_level_zero_sanity_check() -> None:
    """LowLevelZeroOptimizer asserts a cuda/npu accelerator ("device is required"); gloo will do."""
    original = LowLevelZeroOptimizer._sanity_checks

    def _sanity_checks(self: LowLevelZeroOptimizer) -> None:
        if not _on_cpu():
            return original(self)
        # the original body minus its first line, the accelerator assert
        for param_group in self.optim.param_groups:
            for param in param_group["params"]:
                if not getattr(param, "skip_zero_check", False):
                    assert param.dtype == self._dtype, (
                        f"Parameters are expected to have the same dtype `{self._dtype}`, "
                        f"but got `{param.dtype}`"
                    )

    _replace(LowLevelZeroOptimizer, "_sanity_checks", _sanity_checks)


def patch_cpu_record_stream_noop() -> None:
    """Tensor.record_stream has no CPU kernel, and ZeRO's overlap_communication calls it."""
    original = torch.Tensor.record_stream

    def record_stream(self: torch.Tensor, stream: Any) -> None:
        # CPU kernels run synchronously and the CPU allocator has no per-stream caching, so
        # there is nothing to record; any other device keeps torch's behaviour.
        if self.device.type == "cpu":
            return None
        return original(self, stream)

    _replace(torch.Tensor, "record_stream", record_stream)


# ── CpuAccelerator ─────────────────────────────────────────────────────────────────────────────


class CpuStream(torch.cpu.Stream):
    """torch's device-agnostic CPU stream plus the ``synchronize``/``query`` ColossalAI calls."""

    def synchronize(self) -> None:
        return None

    def query(self) -> bool:
        return True


def patch_cpu_accelerator_rng() -> None:
    """CpuAccelerator.get_rng_state passes a device to torch.get_rng_state; manual_seed raises."""

    def get_rng_state(self: CpuAccelerator, device: Any = None) -> torch.Tensor:
        return torch.get_rng_state()

    def set_rng_state(self: CpuAccelerator, new_state: torch.Tensor, device: Any = None) -> None:
        torch.set_rng_state(new_state)

    def manual_seed(self: CpuAccelerator, seed: int) -> None:
        torch.manual_seed(seed)

    _replace(CpuAccelerator, "get_rng_state", get_rng_state)
    _replace(CpuAccelerator, "set_rng_state", set_rng_state)
    _replace(CpuAccelerator, "manual_seed", manual_seed)


def patch_randomizer_single_generator() -> None:
    """Randomizer.fork_rng(enable_cpu=True) swaps one CPU generator twice and never restores it."""
    original = Randomizer.fork_rng

    @contextmanager
    def fork_rng(self: Randomizer, enable_cpu: bool = False) -> Iterator[None]:
        # On CPU the "device" generator *is* the CPU generator; forking it twice leaves the
        # global generator on the randomizer's (rank-offset) state after the block.
        with original(self, enable_cpu=enable_cpu and not _on_cpu()):
            yield

    _replace(Randomizer, "fork_rng", fork_rng)


def patch_cpu_accelerator_device_count() -> None:
    """CpuAccelerator.device_count raises, and DynamicGradScaler (fp16) calls it."""

    def device_count(self: CpuAccelerator) -> int:
        return torch.cpu.device_count()

    _replace(CpuAccelerator, "device_count", device_count)


def patch_cpu_accelerator_sync() -> None:
    """CpuAccelerator.synchronize/empty_cache raise; ZeRO and checkpoint loading call them."""

    def synchronize(self: CpuAccelerator, device: Any = None) -> None:
        torch.cpu.synchronize(device)

    def empty_cache(self: CpuAccelerator) -> None:
        return None

    _replace(CpuAccelerator, "synchronize", synchronize)
    _replace(CpuAccelerator, "empty_cache", empty_cache)


def patch_cpu_accelerator_streams() -> None:
    """CpuAccelerator.Stream/current_stream/stream raise; ZeRO and Gemini create streams."""

    def stream_factory(
        self: CpuAccelerator, device: Any = None, priority: int = 0, **kwargs: Any
    ) -> CpuStream:
        return CpuStream()

    def current_stream(self: CpuAccelerator, device: Any = None) -> CpuStream:
        return CpuStream()

    def stream(self: CpuAccelerator, stream_: Any) -> Any:
        return torch.cpu.stream(stream_)

    _replace(CpuAccelerator, "Stream", stream_factory)
    _replace(CpuAccelerator, "current_stream", current_stream)
    _replace(CpuAccelerator, "stream", stream)


# ── pipeline parallelism ───────────────────────────────────────────────────────────────────────


def patch_hccl_unavailable() -> None:
    """Pipeline p2p calls torch.distributed.is_hccl_available, which only torch_npu defines."""
    if hasattr(dist, "is_hccl_available"):
        return

    def is_hccl_available() -> bool:
        return False

    _replace(dist, "is_hccl_available", is_hccl_available)


# ── Gemini ─────────────────────────────────────────────────────────────────────────────────────


def patch_torch_cpu_adam() -> None:
    """CPUAdam/HybridAdam (Gemini's optimizers) load a cpu_adam kernel only buildable with CUDA."""
    _replace(_cpu_adam_module, "CPUAdamLoader", _TorchCPUAdamLoader)


def patch_gemini_cpu_chunk_placement() -> None:
    """On CPU, Gemini's on-device and offloaded chunk states share one device and collide."""
    # Gemini keeps a chunk's local shard either "on device" (``cuda_shard``) or "offloaded"
    # (``cpu_shard``) and tells the two apart by ``device.type``. With the CPU accelerator the
    # device *is* the CPU, so (1) ``close_chunk`` parks every shard in ``cpu_shard`` because
    # ``shard_device.type == "cpu"``; (2) ``ChunkManager.access_chunk`` then asks ``shard_move``
    # to bring it to the device, which -- the target being "cpu" -- is read as an offload and
    # ignored, and ``__gather`` fails on ``assert self.cuda_shard is not None``; (3)
    # ``optim_update`` sees two "cpu" chunks and defers the fp32→fp16 copy to a later
    # ``shard_move`` to a cuda/npu device that never comes. On CPU offloading is meaningless,
    # so the patch collapses the offload tier into the device tier: shards always live in
    # ``cuda_shard`` (the device slot), moves between "device" and "cpu" are no-ops, and
    # ``optim_update`` copies the master shard into the working shard straight away.
    original_close = Chunk.close_chunk
    original_move = Chunk.shard_move
    original_update = Chunk.optim_update

    def close_chunk(self: Chunk) -> None:
        original_close(self)
        if _on_cpu() and self.cuda_shard is None and self.cpu_shard is not None:
            self.cuda_shard, self.cpu_shard = self.cpu_shard, None

    def shard_move(
        self: Chunk, device: torch.device, force_copy: bool = False, non_blocking: bool = False
    ) -> None:
        if not _on_cpu():
            return original_move(self, device, force_copy, non_blocking)
        if device.type != "cpu":
            raise NotImplementedError(f"Gemini on the CPU accelerator cannot move to {device}")
        return None  # the shard is already where it is used

    def optim_update(self: Chunk) -> None:
        if not _on_cpu() or self.is_gathered:
            return original_update(self)
        friend = self.paired_chunk
        assert friend is not None and not friend.is_gathered
        assert self.cuda_shard is not None and friend.cuda_shard is not None
        self.cuda_shard.copy_(friend.cuda_shard)
        self.optim_sync_flag = True
        self.cpu_vis_flag = False

    _replace(Chunk, "close_chunk", close_chunk)
    _replace(Chunk, "shard_move", shard_move)
    _replace(Chunk, "optim_update", optim_update)


# ── public API ─────────────────────────────────────────────────────────────────────────────────

_PATCHES: dict[str, Callable[[], None]] = {
    "low_level_zero_sanity_check": patch_low_level_zero_sanity_check,
    "cpu_record_stream_noop": patch_cpu_record_stream_noop,
    "cpu_accelerator_rng": patch_cpu_accelerator_rng,
    "randomizer_single_generator": patch_randomizer_single_generator,
    "cpu_accelerator_device_count": patch_cpu_accelerator_device_count,
    "cpu_accelerator_sync": patch_cpu_accelerator_sync,
    "cpu_accelerator_streams": patch_cpu_accelerator_streams,
    "hccl_unavailable": patch_hccl_unavailable,
    "torch_cpu_adam": patch_torch_cpu_adam,
    "gemini_cpu_chunk_placement": patch_gemini_cpu_chunk_placement,
}


def patch_names() -> list[str]:
    """Every patch this module knows, in the order :func:`apply_cpu_compat` applies them."""
    return list(_PATCHES)


def applied_patches() -> list[str]:
    """The patches currently in effect, in application order."""
    return [name for name in _PATCHES if _APPLIED.get(name)]


def apply_cpu_compat() -> list[str]:
    """Install the CPU patches; returns the names of the patches in effect (idempotent).

    Raises :class:`ColossalAIVersionError` unless colossalai is exactly 0.5.0. Does nothing
    (returns ``[]``) unless ColossalAI's current accelerator is the CPU. Calling it again
    installs nothing twice and returns the same list. A patch with nothing to do (e.g.
    ``hccl_unavailable`` when torch_npu already defines the function) is not listed.
    """
    global _current_patch
    check_colossalai_version()
    if not _on_cpu():
        return []
    for name, patch in _PATCHES.items():
        if name in _APPLIED:
            continue
        _current_patch = []
        try:
            patch()
        except BaseException:
            _restore(_current_patch)
            raise
        finally:
            records, _current_patch = _current_patch, None
        _APPLIED[name] = records
    return applied_patches()


def remove_cpu_compat(names: Iterable[str] | None = None) -> list[str]:
    """Undo the named patches (default: all), restoring ColossalAI/torch; returns those undone."""
    selected = list(_PATCHES) if names is None else list(names)
    unknown = [name for name in selected if name not in _PATCHES]
    if unknown:
        raise KeyError(f"unknown cpu_compat patch(es) {unknown}; known: {list(_PATCHES)}")
    undone = []
    for name in reversed(list(_PATCHES)):
        if name in selected and name in _APPLIED:
            _restore(_APPLIED.pop(name))
            undone.append(name)
    return undone[::-1]


_PLUGIN_ALIASES = {
    "ddp": "torch_ddp",
    "torch_ddp": "torch_ddp",
    "zero": "low_level_zero",
    "zero1": "low_level_zero",
    "zero2": "low_level_zero",
    "low_level_zero": "low_level_zero",
    "hybrid": "hybrid_parallel",
    "hybrid_parallel": "hybrid_parallel",
    "gemini": "gemini",
}


def plugin_kwargs_for_cpu(plugin_name: str) -> dict[str, Any]:
    """Extra keyword arguments a Booster plugin needs to train on CPU processes.

    ``plugin_name`` is ``ddp``/``torch_ddp``, ``zero``/``low_level_zero`` (also ``zero1``,
    ``zero2``), ``hybrid``/``hybrid_parallel`` or ``gemini``. Merge the result *under* your
    own arguments only if you know the CPU constraints below do not apply to them:

    * torch_ddp: nothing.
    * low_level_zero, hybrid_parallel: ``overlap_communication=False`` -- overlapping needs a
      second device stream; on CPU it only adds ``record_stream`` calls and backward hooks
      (``cpu_record_stream_noop`` makes ``True`` work too, with no benefit).
    * gemini:
      ``enable_async_reduce=False`` and ``pin_memory=False`` -- async reduce turns pin_memory
      on, and pinned memory needs a CUDA allocator (``torch.empty(pin_memory=True)`` raises);
      ``placement_policy="static"``, ``offload_optim_frac=0.0``, ``offload_param_frac=0.0``
      -- the "auto" policy sizes itself from CUDA memory statistics (it fails with "Torch
      not compiled with CUDA enabled"), and offloading from CPU to CPU is meaningless
      (``gemini_cpu_chunk_placement`` turns it into a no-op, so other fractions also work);
      ``max_prefetch=0`` -- prefetch overlaps all-gathers on a side stream CPU does not have;
      ``min_chunk_size_m=0.0``, ``search_range_m=1`` -- by default any model under 32 Mi
      elements goes into one always-gathered chunk, i.e. Gemini would not shard the
      CPU-sized models at all; with these, chunks are sized to the largest parameter
      (searched over a 1 Mi-element range) and sharded across ranks.

    Gemini also needs a ``HybridAdam`` or ``CPUAdam`` optimizer (``torch_cpu_adam``) and
    ``precision="bf16"`` or ``"fp16"`` (it has no fp32 mode; bf16 is the fast one on CPU).
    """
    try:
        plugin = _PLUGIN_ALIASES[plugin_name]
    except KeyError:
        raise ValueError(
            f"unknown plugin {plugin_name!r}; expected one of {sorted(_PLUGIN_ALIASES)}"
        ) from None
    if plugin in ("low_level_zero", "hybrid_parallel"):
        return {"overlap_communication": False}
    if plugin == "gemini":
        return {
            "enable_async_reduce": False,
            "pin_memory": False,
            "placement_policy": "static",
            "offload_optim_frac": 0.0,
            "offload_param_frac": 0.0,
            "max_prefetch": 0,
            "min_chunk_size_m": 0.0,
            "search_range_m": 1,
        }
    return {}
