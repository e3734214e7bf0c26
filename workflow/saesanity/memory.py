"""Freed memory stays with the process (glibc only), so that the next tensor of the same size reuses pages
instead of faulting fresh ones in.

glibc serves a large allocation (above its mmap threshold, at most 32 MiB) with its own mmap and unmaps it on
free, and trims the heap's top once it is 2x that threshold; each such tensor then costs the kernel a page
fault and the zeroing of each page. A SmolLM2 training job allocates [8,192, 4,608] float tensors (151 MB)
at each point of its held-out curve and [1,024, 4,608] ones (19 MB) every step: measured alone on one core,
the BatchTopK job spent 26 of its 101 s in the kernel, and 9 of 79 s with freed memory kept (same weights,
bit for bit; peak resident memory 1.7 -> 2.3 GB). The cost: freed blocks between live ones are not given
back, so a process can hold more memory than it uses at once (docs/performance.md has each rule's peak)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters, <malloc.h>

OFF_SWITCH = "SAESANITY_KEEP_FREED_MEMORY"
"""Set to 0 in the environment to leave glibc's defaults (e.g. under a tight SLURM memory limit)."""


def keep_freed_memory() -> bool:
    """No allocation by mmap and no trimming of the heap's top; True where it took effect (glibc). Call it
    before the first large allocation: memory mmapped earlier is still unmapped when freed."""
    if os.environ.get(OFF_SWITCH) == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt: nothing to do
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
