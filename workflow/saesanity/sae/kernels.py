"""Compiled forms of the selections a CPU training step makes over its pre-activations, each returning what a
torch expression returns, bit for bit: values, indices, their order, ties and NaN included.

Why: at the synthetic size (d_in 100, 3,200 latents, batch 1,024) torch.topk took 10 ms a step, more than the
encoder's matmul (8 ms): it heap-selects over every entry of a row. `row_topk` first bounds the k-th largest
by the k-th largest maximum of 2k disjoint sets of the row (one vectorised pass), then ranks only the entries
above the bound, about k + 7 of 3,200 (about 2 ms). Where torch's answer depends on its algorithm (a tie
among the k + 1 largest, or a NaN) the row goes to torch.topk itself. `indices_ge` and `entries_gt` are the
`nonzero` of a comparison without the [B, d_sae] mask in between (BatchTopK's candidates; ReLU's and
JumpReLU's active entries); `batch_topk` is BatchTopK's whole training selection, and `rows_sum_weight_grad`
the weight gradient of the sparse products (embedding_bag's backward, in torch's order of the entries).

The source, kernels.cpp, is compiled on first use with the machine's C++ compiler (`CXX`, else
`c++`) into the user's cache (keyed by the source, the compiler, the flags and the CPU), and loaded with
ctypes. Without a compiler, or with SAESANITY_KERNELS=0 in the environment, every function runs its torch
expression: slower, the same bytes (tests/test_kernels.py compares each function with its expression, and a
training run with and without the kernels)."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("kernels.cpp")
OFF_SWITCH = "SAESANITY_KERNELS"
"""Set to 0 in the environment to run the torch expressions instead."""
FLAG_SETS = (["-O3", "-march=native"], ["-O3"])
"""Tried in order: -march=native for the vector units (the kernels only compare floats, so no result
depends on it); plain -O3 where the compiler does not take it."""
COMMON_FLAGS = ["-std=c++17", "-shared", "-fPIC", "-ffp-contract=off", "-Wno-psabi"]

_i64, _ptr = ctypes.c_int64, ctypes.c_void_p
_SIGNATURES = {
    "saesanity_topk_rows": [_ptr, _i64, _i64, _i64, _i64, _ptr, _ptr, _ptr],
    "saesanity_indices_ge": [_ptr, _i64, ctypes.c_float, _ptr, _i64],
    "saesanity_entries_gt": [_ptr, _i64, _i64, _ptr, _ptr, _ptr, _i64],
    "saesanity_scatter_rows": [_ptr, _i64, _ptr, _ptr, _ptr, _ptr, _i64, _ptr],
    "saesanity_batch_topk": [_ptr, _i64, _i64, _i64, _i64, _ptr, _ptr],
}


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "saesanity" / "kernels"


def _cpu_id() -> str:
    """What -march=native compiles for: the CPU's flags (Linux), else the machine's name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.machine() + platform.processor()


def _build(compiler: str) -> Path:
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True).stdout
    errors = []
    for flags in FLAG_SETS:
        key = hashlib.sha256("\0".join([SOURCE.read_text(), version, *flags, *COMMON_FLAGS, _cpu_id()])
                             .encode()).hexdigest()[:16]
        for directory in (_cache_dir(), Path(tempfile.gettempdir()) / "saesanity-kernels"):
            lib = directory / f"kernels-{key}.so"
            if lib.exists():
                return lib
            try:
                directory.mkdir(parents=True, exist_ok=True)
                # Built under a private name and renamed into place: jobs starting together never load a
                # half-written library.
                fd, tmp = tempfile.mkstemp(suffix=".so", dir=directory)
                os.close(fd)
            except OSError as e:
                errors.append(f"{directory}: {e}")
                continue
            done = subprocess.run([compiler, *flags, *COMMON_FLAGS, "-o", tmp, str(SOURCE)],
                                  capture_output=True, text=True)
            if done.returncode == 0:
                os.replace(tmp, lib)
                return lib
            os.unlink(tmp)
            errors.append(f"{compiler} {' '.join(flags)}: {done.stderr.strip()[-500:]}")
            break  # the flags, not the directory, failed
    raise OSError("; ".join(errors))


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None (switched off, or no working compiler: then warned once)."""
    if os.environ.get(OFF_SWITCH) == "0":
        return None
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    try:
        if compiler is None:
            raise OSError("no C++ compiler (set CXX, or install g++ or clang++)")
        lib = ctypes.CDLL(str(_build(compiler)))
    except (OSError, subprocess.SubprocessError) as e:
        warnings.warn(f"saesanity: compiled kernels unavailable, using torch's operators instead (same "
                      f"results, slower training): {e}", RuntimeWarning, stacklevel=2)
        return None
    for name, argtypes in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, _i64
    return lib


def _lib_for(x: torch.Tensor) -> ctypes.CDLL | None:
    """The kernels where they apply to `x`: a contiguous float32 CPU tensor without a graph to build."""
    if (x.device.type != "cpu" or x.dtype != torch.float32 or not x.is_contiguous()
            or (x.requires_grad and torch.is_grad_enabled())):
        return None
    return library()


def available_for(*tensors: torch.Tensor) -> bool:
    """Whether the kernels are built and these are float32 CPU tensors (the gradient kernel's case)."""
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors) and library() is not None


def _bound_sets(k: int) -> int:
    """Sets whose maxima bound the k-th largest: 2k (about k + k/3 entries above the bound at the synthetic
    size), rounded up to the kernel's vector width of 8."""
    return -(-2 * k // 8) * 8


def _topk_kernel(lib: ctypes.CDLL, x_BF: torch.Tensor, k: int):
    B, F = x_BF.shape
    v_BK, i_BK = torch.empty(B, k), torch.empty(B, k, dtype=torch.long)
    tie_B = torch.empty(B, dtype=torch.long)
    n = lib.saesanity_topk_rows(x_BF.data_ptr(), B, F, k, _bound_sets(k), v_BK.data_ptr(), i_BK.data_ptr(),
                                tie_B.data_ptr())
    return v_BK, i_BK, tie_B[:n]


def row_topk(x_BF: torch.Tensor, k: int, sorted: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.topk(x_BF, k, dim=-1, sorted=sorted). Unsorted, torch's CPU top-k still returns rows sorted where
    it heap-selects (k * 64 <= d_sae); elsewhere its order is its own, and it runs (as it does on tensors of
    other than 2 dimensions)."""
    lib = _lib_for(x_BF)
    if lib is None or x_BF.dim() != 2 or not 0 < k <= _bound_sets(k) <= x_BF.shape[1] or not (
            sorted or k * 64 <= x_BF.shape[1]):
        return x_BF.topk(k, dim=-1, sorted=sorted)
    v_BK, i_BK, tie_rows = _topk_kernel(lib, x_BF, k)
    if len(tie_rows):
        v_BK[tie_rows], i_BK[tie_rows] = x_BF[tie_rows].topk(k, dim=1, sorted=sorted)
    return v_BK, i_BK


def masked_row_topk(x_BF: torch.Tensor, keep_F: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.where(keep_F, x_BF, -inf).topk(k, dim=1), k at most the number kept (AuxK's dead latents)."""
    def masked(rows):
        x = x_BF if rows is None else x_BF[rows]
        return torch.where(keep_F, x, torch.full_like(x, -torch.inf)).topk(k, dim=1)

    lib = _lib_for(x_BF)
    cols_N = keep_F.nonzero().squeeze(1)
    if lib is None or not 0 < k <= _bound_sets(k) <= len(cols_N):
        return masked(None)
    v_BK, j_BK, tie_rows = _topk_kernel(lib, x_BF.index_select(1, cols_N), k)
    j_BK[tie_rows] = 0  # not written by the kernel; replaced below
    i_BK = cols_N[j_BK]
    # The dropped columns are -inf to torch: a k-th value of -inf would tie with them.
    tie_rows = torch.cat([tie_rows, (v_BK[:, -1] == -torch.inf).nonzero().squeeze(1)]).unique()
    if len(tie_rows):
        v_BK[tie_rows], i_BK[tie_rows] = masked(tie_rows)
    return v_BK, i_BK


def indices_ge(x_N: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """(x_N >= t).nonzero().squeeze(1) of a 1-D tensor and a number."""
    lib = _lib_for(x_N)
    if lib is None or x_N.dim() != 1:
        return (x_N >= t).nonzero().squeeze(1)
    t = float(t)
    out = torch.empty(len(x_N) // 16 + 1024, dtype=torch.long)
    n = lib.saesanity_indices_ge(x_N.data_ptr(), len(x_N), t, out.data_ptr(), len(out))
    if n > len(out):
        out = torch.empty(n, dtype=torch.long)
        lib.saesanity_indices_ge(x_N.data_ptr(), len(x_N), t, out.data_ptr(), n)
    return out[:n]


def entries_gt(x_BF: torch.Tensor, t: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_BF > t).nonzero(as_tuple=True) of a 2-D tensor and a number or one threshold per column."""
    lib = _lib_for(x_BF)
    F = x_BF.shape[-1]
    t_F = t.detach() if isinstance(t, torch.Tensor) else torch.tensor(float(t))
    t_F = t_F.to(torch.float32).expand(F).contiguous() if t_F.dim() == 0 else t_F
    if (lib is None or x_BF.dim() != 2 or t_F.shape != (F,) or t_F.dtype != torch.float32
            or t_F.device.type != "cpu" or not t_F.is_contiguous()):
        return (x_BF > t).nonzero(as_tuple=True)
    B = x_BF.shape[0]
    cap = B * F // 16 + 1024
    while True:
        rows_N, cols_N = torch.empty(cap, dtype=torch.long), torch.empty(cap, dtype=torch.long)
        n = lib.saesanity_entries_gt(x_BF.data_ptr(), B, F, t_F.data_ptr(), rows_N.data_ptr(), cols_N.data_ptr(),
                                     cap)
        if n <= cap:
            return rows_N[:n], cols_N[:n]
        cap = n


def batch_topk(flat_N: torch.Tensor, n_keep: int, sample_stride: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """BatchTopK's training selection (saesanity.sae.batchtopk.batch_topk_indices) as its flat indices,
    ascending, and the values there; None where that function must run itself (the kernels absent, a NaN in
    the sample, a non-positive bound, a tie at the cut)."""
    lib = _lib_for(flat_N)
    if lib is None or flat_N.dim() != 1:
        return None
    n_sample = n_keep * 5 // (4 * sample_stride)
    idx_N, val_N = torch.empty(n_keep, dtype=torch.long), torch.empty(n_keep)
    n = lib.saesanity_batch_topk(flat_N.data_ptr(), len(flat_N), sample_stride, n_sample, n_keep, idx_N.data_ptr(),
                                 val_N.data_ptr())
    return (idx_N, val_N) if n == n_keep else None


def rows_sum_weight_grad(g_BD: torch.Tensor, rows_N: torch.Tensor, cols_N: torch.Tensor, w_N: torch.Tensor,
                         order_N: torch.Tensor, n_weights: int) -> torch.Tensor | None:
    """The gradient of W in F.embedding_bag(cols_N, W, offsets, mode="sum", per_sample_weights=w_N) given the
    output's gradient g_BD, rows_N being each entry's bag and order_N = cols_N.sort().indices: what torch's
    backward returns, bit for bit (it sorts the entries by column the same way and adds each with a fused
    multiply-add). None where the kernel does not apply; the caller then lets torch differentiate."""
    g_BD, w_N = g_BD.detach().contiguous(), w_N.detach().contiguous()
    index = (rows_N, cols_N, order_N)
    if (_lib_for(g_BD) is None or _lib_for(w_N) is None
            or any(t.dtype != torch.long or not t.is_contiguous() or t.device.type != "cpu" for t in index)):
        return None
    out_FD = torch.zeros(n_weights, g_BD.shape[1])
    library().saesanity_scatter_rows(g_BD.data_ptr(), g_BD.shape[1], rows_N.data_ptr(), cols_N.data_ptr(),
                                     w_N.data_ptr(), order_N.data_ptr(), len(cols_N), out_FD.data_ptr())
    return out_FD
