"""saesanity.memory: with freed memory kept, a large block allocated again reuses its pages."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import ctypes, resource, sys
from saesanity.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
n = 64 << 20  # above glibc's largest mmap threshold (32 MiB)
def touch():
    p = libc.malloc(n)
    ctypes.memset(p, 1, n)
    libc.free(p)
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    kept, faults = out.stdout.split()
    return kept, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_block_is_reused_without_page_faults():
    kept, faults = _faults("keep")
    default_kept, default_faults = _faults("default")
    assert kept == "True" and default_kept == "False"
    assert default_faults > 8000, default_faults  # unmapped on free: its 16,384 pages of 4 KiB faulted in again
    assert faults < 200, faults
