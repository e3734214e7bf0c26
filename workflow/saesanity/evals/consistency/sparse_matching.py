"""MCC for dictionaries too large for the dense Hungarian algorithm, with a certificate of quality.

The exact matching of two 131k-latent SAEs took 8 hours and over 300 GB (arXiv 2501.16615). Here:
1. Candidates, in ONE pass over blocks of C = A B^T (bfloat16 products, about 2.5x the float32 rate on CPUs
   with AVX512-BF16): each row's and each column's top-k columns/rows. Nothing of size F x G is stored.
2. The candidate pairs are rescored in float32 and the min-weight full bipartite matching on this sparse
   graph is found (LAPJVsp, scipy.sparse.csgraph.min_weight_full_bipartite_matching). If the graph has no
   full matching, a greedy matching completed by the Hungarian algorithm on the unmatched residue is added
   to the graph, which then has one; so the result always matches every latent of the smaller dictionary.
3. A certificate: an upper bound on the optimal MCC from LP duality. The assignment LP (rows = the smaller
   side, each matched once; columns at most once) has the dual min sum_i u_i + sum_j v_j subject to
   u_i + v_j >= C_ij, v >= 0. For any v >= 0, u_i = max(max over candidates j (C_ij - v_j), tau_i) is
   feasible when tau_i bounds row i's non-candidate entries (v_j >= 0 makes C_ij - v_j <= C_ij <= tau_i there),
   and tau_i is the row's k-th largest bfloat16 product plus the bfloat16 error bound. v = 0 gives the mean of
   row maxima; a few projected subgradient steps on v tighten it. The mean of the n largest column maxima
   is a second bound (each matched column contributes at most its maximum); the certificate is the smaller.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from saesanity.evals.consistency.matching import MAX_EXACT_LATENTS, Matching

# bfloat16 keeps 8 significant bits: a stored value is within one unit in the last place, 2^-7 relative.
_BF16_ULP = 2.0 ** -7
# float32 accumulation of a length-d dot product of unit vectors errs by at most about d * 2^-24.
_F32_EPS = 2.0 ** -24


def _unit_rows_f32(W) -> torch.Tensor:
    W = torch.as_tensor(np.asarray(W), dtype=torch.float32)
    return W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _merge_topk(old_v: torch.Tensor, old_i: torch.Tensor, new_v: torch.Tensor, new_i: torch.Tensor, k: int):
    v, pos = torch.cat([old_v, new_v], 1).topk(k, dim=1)
    return v, torch.cat([old_i, new_i], 1).gather(1, pos)


def candidate_search(A_FD: torch.Tensor, B_GD: torch.Tensor, k: int, block_rows: int = 4096,
                     block_cols: int = 16384) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-k of every row and of every column of A B^T (unit rows), in bfloat16, one pass over the blocks.
    Returns (row_val [F, kr], row_idx, col_val [G, kc], col_idx), values sorted descending."""
    F, G = len(A_FD), len(B_GD)
    kr, kc = min(k, G), min(k, F)
    A16, B16 = A_FD.bfloat16(), B_GD.bfloat16()
    row_v = torch.full((F, kr), -torch.inf)
    row_i = torch.zeros((F, kr), dtype=torch.int64)
    col_v = torch.full((G, kc), -torch.inf)
    col_i = torch.zeros((G, kc), dtype=torch.int64)
    for i0 in range(0, F, block_rows):
        i1 = min(F, i0 + block_rows)
        for j0 in range(0, G, block_cols):
            j1 = min(G, j0 + block_cols)
            S = A16[i0:i1] @ B16[j0:j1].T
            v, j = S.topk(min(kr, j1 - j0), dim=1)
            row_v[i0:i1], row_i[i0:i1] = _merge_topk(row_v[i0:i1], row_i[i0:i1], v.float(), j + j0, kr)
            # Top-k along dim 0 is several times slower than along a contiguous dim 1.
            v, i = S.T.contiguous().topk(min(kc, i1 - i0), dim=1)
            col_v[j0:j1], col_i[j0:j1] = _merge_topk(col_v[j0:j1], col_i[j0:j1], v.float(), i + i0, kc)
    return row_v, row_i, col_v, col_i


def bf16_error(W_ND: torch.Tensor) -> torch.Tensor:
    """Per row, ||w - bf16(w)||: |a.b - bf16(a).bf16(b)| <= ||a - a~|| + ||a~|| ||b - b~|| (Cauchy-Schwarz)."""
    return (W_ND - W_ND.bfloat16().float()).norm(dim=1)


def non_candidate_bound(kth_N: torch.Tensor, err_N: torch.Tensor, err_other: float, d: int) -> np.ndarray:
    """Upper bound on the exact cosine of any pair outside a row's top-k, from its k-th bfloat16 product:
    input rounding (both sides), float32 accumulation, and rounding of the product to bfloat16."""
    tau = kth_N + err_N + (1 + err_N) * err_other + d * _F32_EPS + _BF16_ULP * kth_N.abs() + 1e-6
    return tau.double().numpy()


def rescore(A_FD: torch.Tensor, B_GD: torch.Tensor, rows: np.ndarray, cols: np.ndarray,
            chunk: int = 16384) -> np.ndarray:
    """float32 cosines of the given pairs, in chunks (the gather is chunk x d per side)."""
    out = np.empty(len(rows), dtype=np.float64)
    for s in range(0, len(rows), chunk):
        r = torch.from_numpy(rows[s:s + chunk])
        c = torch.from_numpy(cols[s:s + chunk])
        out[s:s + chunk] = (A_FD[r] * B_GD[c]).sum(1).double().numpy()
    return out


def greedy_complete(n: int, m: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                    A_FD: torch.Tensor, B_GD: torch.Tensor,
                    exact_max_latents: int = MAX_EXACT_LATENTS) -> tuple[np.ndarray, np.ndarray]:
    """A matching of all n rows (n <= m): greedy on the candidate pairs by decreasing cosine, then the
    Hungarian algorithm on the dense cosines of the rows and columns left over (when at most
    `exact_max_latents` rows are left)."""
    row_used, col_used = np.zeros(n, bool), np.zeros(m, bool)
    out_r, out_c = [], []
    for e in np.argsort(-vals, kind="stable"):
        r, c = rows[e], cols[e]
        if not row_used[r] and not col_used[c]:
            row_used[r] = col_used[c] = True
            out_r.append(r)
            out_c.append(c)
    left_r, left_c = np.flatnonzero(~row_used), np.flatnonzero(~col_used)
    if len(left_r):
        if len(left_r) <= exact_max_latents:
            C = (A_FD[torch.from_numpy(left_r)] @ B_GD[torch.from_numpy(left_c)].T).double().numpy()
            rr, cc = linear_sum_assignment(C, maximize=True)
        else:  # a residue this large means k is far too small for the data; the certificate will show it
            rr, cc = np.arange(len(left_r)), np.arange(len(left_r))
        out_r += list(left_r[rr])
        out_c += list(left_c[cc])
    return np.asarray(out_r, np.int64), np.asarray(out_c, np.int64)


def dual_bound(n: int, m: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, tau_n: np.ndarray,
               primal: float, steps: int = 100) -> float:
    """min over the visited v >= 0 of sum_i max(max_j (C_ij - v_j), tau_i) + sum_j v_j (see module
    docstring); `rows` sorted ascending, every row with at least one pair. Polyak steps aimed at `primal`."""
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    deg = np.diff(np.r_[starts, len(rows)])
    v = np.zeros(m)
    best = np.inf
    for _ in range(steps):
        w = vals - v[cols]
        row_max = np.maximum.reduceat(w, starts)
        wins = row_max > tau_n
        bound = float(np.where(wins, row_max, tau_n).sum() + v.sum())
        best = min(best, bound)
        if best - primal <= 1e-9 * n:
            break
        # The subgradient in v_j: 1 minus the number of rows whose maximum is attained at column j.
        hit = np.flatnonzero(w == np.repeat(row_max, deg))
        first = hit[np.r_[True, rows[hit][1:] != rows[hit][:-1]]]
        first = first[wins[rows[first]]]
        g = np.ones(m)
        np.subtract.at(g, cols[first], 1.0)
        g[(v <= 0) & (g > 0)] = 0.0  # projected: v cannot go below zero
        norm2 = float(g @ g)
        if norm2 == 0:
            break
        v = np.maximum(0.0, v - (bound - primal) / norm2 * g)
    return best


def sparse_mcc(A_FD: np.ndarray, B_GD: np.ndarray, candidates: int = 8, block_rows: int = 4096,
               block_cols: int = 16384, dual_steps: int = 100,
               exact_max_latents: int = MAX_EXACT_LATENTS) -> Matching:
    """MCC by a min-weight matching on candidate pairs, with an upper bound on the optimum (module doc).
    `exact_max_latents` (consistency.exact_max_latents) bounds the dense Hungarian step on the residue."""
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    A, B = _unit_rows_f32(A_FD), _unit_rows_f32(B_GD)
    swap = len(A) > len(B)  # rows of the matching: the smaller dictionary
    if swap:
        A, B = B, A
    n, m, d = len(A), len(B), A.shape[1]
    row_v, row_i, col_v, col_i = candidate_search(A, B, candidates, block_rows, block_cols)
    err_A, err_B = bf16_error(A), bf16_error(B)
    # With k >= the other side's size every pair is a candidate and nothing is left to bound.
    tau_rows = (non_candidate_bound(row_v[:, -1], err_A, float(err_B.max()), d) if row_v.shape[1] < m
                else np.full(n, -np.inf))
    tau_cols = (non_candidate_bound(col_v[:, -1], err_B, float(err_A.max()), d) if col_v.shape[1] < n
                else np.full(m, -np.inf))
    key = np.unique(np.concatenate([
        (torch.arange(n).unsqueeze(1) * m + row_i).flatten().numpy(),
        (col_i * m + torch.arange(m).unsqueeze(1)).flatten().numpy()]))
    rows, cols = key // m, key % m
    vals = rescore(A, B, rows, cols)
    # Weights 2 - cos lie in [1, 3]: positive (scipy treats zeros as missing edges), and every full matching
    # has n edges, so the minimum weight is the maximum total cosine.
    graph = csr_matrix((2.0 - vals, (rows, cols)), shape=(n, m))
    try:
        mr, mc = min_weight_full_bipartite_matching(graph)
    except ValueError:  # no full matching among the candidates: add a complete one to the graph
        gr, gc = greedy_complete(n, m, rows, cols, vals, A, B, exact_max_latents)
        extra = np.setdiff1d(gr * m + gc, key)
        key = np.concatenate([key, extra])
        order = np.argsort(key, kind="stable")
        key = key[order]
        rows, cols = key // m, key % m
        vals = np.concatenate([vals, rescore(A, B, extra // m, extra % m)])[order]
        graph = csr_matrix((2.0 - vals, (rows, cols)), shape=(n, m))
        mr, mc = min_weight_full_bipartite_matching(graph)
    cos = np.asarray(graph[mr, mc]).ravel()
    cos = 2.0 - cos
    total = float(cos.sum())
    # Certificate: the dual bound over rows, and the n largest column maxima.
    col_max = np.full(m, -np.inf)
    np.maximum.at(col_max, cols, vals)
    col_max = np.maximum(col_max, tau_cols)
    bound = min(dual_bound(n, m, rows, cols, vals, tau_rows, total, dual_steps),
                float(np.sort(col_max)[::-1][:n].sum()))
    if swap:
        mr, mc = mc, mr
        order = np.argsort(mr, kind="stable")
        mr, mc, cos = mr[order], mc[order], cos[order]
    return Matching(total / n, mr.astype(np.int64), mc.astype(np.int64), cos, "sparse", max(bound / n, total / n))
