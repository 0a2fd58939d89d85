"""Return freed memory to the OS while training a memory-saving plan on CPU.

glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after which
large tensors come from the heap, whose freed pieces are kept rather than returned. Gemini frees
and re-gathers chunks every step, so its resident memory grew ~40 MiB a step on one process
(508 → 938 MiB in 9 steps) while its live tensors stayed at 304 MiB (docs/parallel.md).
Setting the trim threshold fixes the mmap threshold at its 128 KiB default, so large tensors
are mapped and unmapped whole, and trims the heap's top as soon as it is free.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def return_freed_memory() -> bool:
    """Tune glibc's malloc in this process; False where there is no glibc (macOS, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1
    return ok and mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1
