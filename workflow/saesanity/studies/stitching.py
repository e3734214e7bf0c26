"""SAE stitching (Leask et al., "Sparse Autoencoders Do Not Find Canonical Units of Analysis", arXiv 2502.04878,
section on SAE stitching): the latents of a larger SAE L, trained on the same activations as a smaller SAE
S, are either *novel* (no S latent points their way: adding them to S lowers its error) or *reconstruction*
latents (a finer or equal version of an S latent, their parent). Stitching interpolates from S to L:

1. insert L's novel latents into S, one group at a time;
2. swap each reconstruction family: remove a parent S latent and add its non-novel L children; the S
   latents without children leave with the last group. The end is exactly L.

Every latent keeps the activations it has in its own SAE (z_S = S.encode(x), z_L = L.encode(x), computed
once), so a point of the curve reconstructs
    x_hat = z_S[:, keep_S] @ W_dec_S[keep_S] + z_L[:, keep_L] @ W_dec_L[keep_L] + b,
with b = w b_dec_S + (1 - w) b_dec_L and w = |keep_S| / d_S: the decoder bias follows the S latents still in,
so it is S's all through the insertion phase (the MSE after all novel latents is S plus those latents, bias
untouched), moves towards L's as S latents are swapped out, and is exactly L's at the end. The first point
is S.decode(z_S) and the last L.decode(z_L), computed as the SAEs compute them, so the curve starts at
MSE(S) and ends at MSE(L) exactly; the points between are accumulated in float64.

Novelty, two ways: their own test, whether inserting the latent alone into S lowers S's held-out error
(insertion_delta, a pass over the held-out rows before the curve's), and their cheap proxy, the max decoder
cosine below a threshold. `novelty` picks the one that decides the novel latents and orders the curve
(default: the test); the record gives both fractions and how often they agree.

Group order (deterministic): novel latents most novel first (by the test, the largest drop in S's error; by
the proxy, the lowest max cosine; ties by index), cut into `insert_groups` groups of near-equal size; the
other latents join their parent, the S latent of their max cosine, and families go in descending order of
their closest child's cosine (ties by parent index), cut into `swap_groups` groups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from saesanity.config import _check
from saesanity.data.store import ActivationStore
from saesanity.sae.base import SAE

Reconstruct = Callable[[torch.Tensor], torch.Tensor]
NOVELTY = ("insertion", "cosine")


@dataclass(frozen=True)
class StitchingConfig:
    """One stitching job (arXiv 2502.04878, SAE stitching); the lead mirrors it in the config schema."""

    novelty: str = "insertion"
    """Which test decides the novel latents and orders the curve: 'insertion' (arXiv 2502.04878's own: inserting
    the latent alone into S lowers S's held-out squared error) or 'cosine' (their proxy, `threshold`)."""
    threshold: float = 0.7
    """By the proxy, an L latent is novel when its largest decoder cosine with any S latent is below this. 0.7: the cut the
    issue gives for Leask et al. (arXiv 2502.04878; only its abstract could be read here, which says novel
    latents have low and reconstruction latents high max cosine), and the shared-latent cut of arXiv
    2501.16615 (saesanity.config.ConsistencyConfig.shared_threshold): above it two unit directions share
    half their variance (0.7^2 = 0.49), below it most of the L direction lies outside its closest S one."""
    insert_groups: int = 8
    """Groups the novel latents are inserted in (points of the insertion phase; fewer if fewer latents)."""
    swap_groups: int = 8
    """Groups the reconstruction families are swapped in (points of the swap phase)."""
    histogram_bins: int = 20
    """Bins over [0, 1] of the max-cosine histogram (a negative max cosine counts in the first bin)."""
    max_rows: int | None = None
    """Held-out rows the curve is measured on; None: all."""
    chunk_rows: int = 4096
    """Rows encoded at once (memory: chunk_rows x (d_S + d_L) floats)."""
    ce_points: int = 5
    """With a model: curve points (evenly spaced, the two ends included) at which the CE loss is measured
    with the stitched SAE spliced in (saesanity.evals.lm_loss.spliced_loss)."""
    ce_docs: int = 64
    """Held-out documents of the CE loss."""
    batch_docs: int = 16
    concept_floor: float = 0.2
    """With a corpus: a novel latent is a new concept only if its best concept F1 is at least this (and
    above every S latent's F1 on that concept): below 0.2 a latent's best concept is mostly noise."""
    concept_rows: int | None = 65_536
    """Held-out rows of the concept check; None: all."""

    def __post_init__(self) -> None:
        _check(self.novelty in NOVELTY, "novelty", f"must be one of {list(NOVELTY)}, got {self.novelty!r}")
        _check(-1 <= self.threshold <= 1, "threshold", f"must be in [-1, 1], got {self.threshold}")
        for key in ("insert_groups", "swap_groups", "histogram_bins", "chunk_rows", "ce_points", "ce_docs",
                    "batch_docs"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        for key in ("max_rows", "concept_rows"):
            _check(getattr(self, key) is None or getattr(self, key) > 0, key, "must be positive or null")
        _check(self.ce_points >= 2, "ce_points", "must be >= 2 (the two ends)")
        _check(0 <= self.concept_floor <= 1, "concept_floor", "must be in [0, 1]")


def unit_rows(W_FD: torch.Tensor) -> torch.Tensor:
    W = W_FD.detach().double()
    return W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)


@dataclass(frozen=True)
class Classification:
    """Per L latent: its largest decoder cosine with S, the S latent reaching it (its parent), whether it is
    novel, and its novelty score (lower: more novel; the order of the insertion phase)."""

    max_cos: np.ndarray
    parent: np.ndarray
    novel: np.ndarray
    score: np.ndarray

    def by_insertion(self, delta_F: np.ndarray) -> Classification:
        """The same latents judged by the paper's test: novel where inserting one alone lowers S's error
        (insertion_delta < 0), the largest drop first."""
        return Classification(self.max_cos, self.parent, delta_F < 0, delta_F)


@torch.no_grad()
def classify(W_small: torch.Tensor, W_large: torch.Tensor, threshold: float, block: int = 4096) -> Classification:
    """Each row of W_large against the rows of W_small, by the cosine of the unit decoder rows (arXiv
    2502.04878: max cosine is their cheap proxy for whether inserting the latent helps)."""
    U_S, U_L = unit_rows(W_small), unit_rows(W_large)
    best, arg = [], []
    for i in range(0, len(U_L), block):
        v, j = (U_L[i:i + block] @ U_S.T).max(1)  # max returns the first index among equals
        best.append(v)
        arg.append(j)
    max_cos = torch.cat(best).numpy()
    return Classification(max_cos, torch.cat(arg).numpy(), max_cos < threshold, max_cos)


@dataclass(frozen=True)
class Group:
    phase: str
    """'insert' or 'swap'."""
    add_large: np.ndarray
    remove_small: np.ndarray


def stitching_plan(cls: Classification, d_small: int, insert_groups: int, swap_groups: int) -> list[Group]:
    """The groups in order (module docstring); after the last, every L latent is in and no S latent."""
    idx_L = np.arange(len(cls.max_cos))
    novel = idx_L[cls.novel]
    novel = novel[np.lexsort((novel, cls.score[novel]))]
    groups = [Group("insert", g, np.zeros(0, np.int64))
              for g in np.array_split(novel, min(insert_groups, len(novel))) if len(novel)]
    recon = idx_L[~cls.novel]
    parents = np.unique(cls.parent[recon])
    children = {int(p): np.sort(recon[cls.parent[recon] == p]) for p in parents}
    closest = {p: float(cls.max_cos[c].max()) for p, c in children.items()}
    families = sorted(children, key=lambda p: (-closest[p], p))
    childless = np.setdiff1d(np.arange(d_small), parents)
    chunks = np.array_split(np.array(families, dtype=np.int64), min(swap_groups, len(families))) if families else []
    for i, chunk in enumerate(chunks):
        remove = np.asarray(chunk, dtype=np.int64)
        if i == len(chunks) - 1:
            remove = np.concatenate([remove, childless])
        add = np.concatenate([children[int(p)] for p in chunk]) if len(chunk) else np.zeros(0, np.int64)
        groups.append(Group("swap", add, remove))
    if not chunks and len(childless):
        groups.append(Group("swap", np.zeros(0, np.int64), childless))
    return groups


@dataclass(frozen=True)
class Point:
    """The state after some groups: which latents are in, and the decoder bias weight w of S."""

    phase: str
    keep_small: np.ndarray
    keep_large: np.ndarray

    def w_small(self) -> float:
        return float(self.keep_small.mean()) if len(self.keep_small) else 0.0


def plan_points(groups: list[Group], d_small: int, d_large: int) -> list[Point]:
    ks, kl = np.ones(d_small, bool), np.zeros(d_large, bool)
    points = [Point("small", ks.copy(), kl.copy())]
    for g in groups:
        ks[g.remove_small] = False
        kl[g.add_large] = True
        points.append(Point(g.phase, ks.copy(), kl.copy()))
    return points


def stitched_reconstruct(small: SAE, large: SAE, point: Point) -> Reconstruct:
    """x -> x_hat of the stitched SAE at `point` (module docstring); at the two ends exactly S and L."""
    if point.keep_small.all() and not point.keep_large.any():
        return small
    if point.keep_large.all() and not point.keep_small.any():
        return large
    w = point.w_small()

    @torch.no_grad()
    def reconstruct(x_BD: torch.Tensor) -> torch.Tensor:
        ms = torch.from_numpy(point.keep_small).to(x_BD.device, x_BD.dtype)
        ml = torch.from_numpy(point.keep_large).to(x_BD.device, x_BD.dtype)
        return ((small.encode(x_BD) * ms) @ small.W_dec + (large.encode(x_BD) * ml) @ large.W_dec
                + (w * small.b_dec + (1 - w) * large.b_dec))
    return reconstruct


def insertion_delta(r_S_BD: torch.Tensor, z_L_BF: torch.Tensor, W_L_FD: torch.Tensor) -> torch.Tensor:
    """Per L latent j, the change in S's summed squared error over the rows when j alone is inserted into S
    (arXiv 2502.04878's novelty test, of which the max cosine is the proxy): ||r - z_j w_j||^2 - ||r||^2 =
    z_j^2 ||w_j||^2 - 2 z_j <r, w_j>, summed over rows, r = x - S(x). Negative: j is novel. float64 in."""
    sq_norm_F = W_L_FD.pow(2).sum(1)
    return z_L_BF.pow(2).sum(0) * sq_norm_F - 2 * (z_L_BF * (r_S_BD @ W_L_FD.T)).sum(0)


def _sq_err(x64: torch.Tensor, x_hat: torch.Tensor) -> float:
    return float((x64 - x_hat.double()).pow(2).sum())


@torch.no_grad()
def insertion_deltas(small: SAE, large: SAE, store: ActivationStore, cfg: StitchingConfig) -> np.ndarray:
    """insertion_delta of every L latent, summed over the held-out rows the curve is measured on."""
    WL64 = large.W_dec.detach().double()
    delta_F = torch.zeros(large.cfg.d_sae, dtype=torch.float64)
    for x_np in store.iter_chunks(chunk_rows=cfg.chunk_rows, limit=cfg.max_rows):
        x = torch.from_numpy(x_np)
        delta_F += insertion_delta(x.double() - small.decode(small.encode(x)).double(), large.encode(x).double(), WL64)
    return delta_F.numpy()


@torch.no_grad()
def stitching_curve(small: SAE, large: SAE, store: ActivationStore, cfg: StitchingConfig,
                    loss_fn: Callable[[Reconstruct], dict] | None = None) -> tuple[dict, Classification]:
    """The record (JSON-ready) and classification of one (S, L) pair on the held-out store (module docstring).
    `loss_fn(reconstruct)`, where given, is called at cfg.ce_points evenly spaced points of the curve (e.g.
    CE loss with the reconstruction spliced into the language model) and its record joins the point's."""
    if small.cfg.d_in != large.cfg.d_in or store.d != small.cfg.d_in:
        raise ValueError(f"d_in of S {small.cfg.d_in}, of L {large.cfg.d_in}, of the store {store.d}: must agree")
    small.eval(), large.eval()
    d_S, d_L = small.cfg.d_sae, large.cfg.d_sae
    proxy = classify(small.W_dec, large.W_dec, cfg.threshold)
    delta_F = insertion_deltas(small, large, store, cfg)
    lowers = delta_F < 0
    cls = proxy.by_insertion(delta_F) if cfg.novelty == "insertion" else proxy
    groups = stitching_plan(cls, d_S, cfg.insert_groups, cfg.swap_groups)
    points = plan_points(groups, d_S, d_L)
    n_points = len(points)
    recon_L = np.flatnonzero(~cls.novel)
    WS64, WL64 = small.W_dec.detach().double(), large.W_dec.detach().double()
    bS64, bL64 = small.b_dec.detach().double(), large.b_dec.detach().double()
    sq = np.zeros(n_points)
    sq_recon_inserted = 0.0
    n, sum_D, sum_sq = 0, torch.zeros(store.d, dtype=torch.float64), 0.0
    for x_np in store.iter_chunks(chunk_rows=cfg.chunk_rows, limit=cfg.max_rows):
        x = torch.from_numpy(x_np)
        x64 = x.double()
        n += len(x)
        sum_D += x64.sum(0)
        sum_sq += float(x64.pow(2).sum())
        z_S, z_L = small.encode(x), large.encode(x)
        sq[0] += _sq_err(x64, small.decode(z_S))
        sq[-1] += _sq_err(x64, large.decode(z_L))
        acc = z_S.double() @ WS64
        for p, g in enumerate(groups[:-1], start=1):
            if len(g.add_large):
                acc += z_L[:, g.add_large].double() @ WL64[g.add_large]
            if len(g.remove_small):
                acc -= z_S[:, g.remove_small].double() @ WS64[g.remove_small]
            w = points[p].w_small()
            sq[p] += _sq_err(x64, acc + (w * bS64 + (1 - w) * bL64))
        # For comparison: S plus every reconstruction latent (arXiv 2502.04878: inserting them hurts).
        sq_recon_inserted += _sq_err(x64, z_S.double() @ WS64 + z_L[:, recon_L].double() @ WL64[recon_L] + bS64)
    if n == 0:
        raise ValueError(f"{store.folder}: no rows")
    mean_D = sum_D / n
    total_var = sum_sq / n - float(mean_D @ mean_D)
    mse = sq / n

    def ev(m: float) -> float:
        return 1 - m / total_var

    ce_at = set(np.unique(np.round(np.linspace(0, n_points - 1, cfg.ce_points)).astype(int)).tolist())
    curve = []
    for p, point in enumerate(points):
        row = {"point": p, "phase": point.phase, "n_latents": int(point.keep_small.sum() + point.keep_large.sum()),
               "n_small": int(point.keep_small.sum()), "n_large": int(point.keep_large.sum()),
               "mse": float(mse[p]), "explained_variance": ev(mse[p])}
        if loss_fn is not None and p in ce_at:
            row.update(loss_fn(stitched_reconstruct(small, large, point)))
        curve.append(row)
    n_insert = sum(g.phase == "insert" for g in groups)
    n_novel = int(proxy.novel.sum())
    clipped = np.clip(cls.max_cos, 0, 1)
    counts, edges = np.histogram(clipped, bins=cfg.histogram_bins, range=(0, 1))
    parents = cls.parent[recon_L]
    n_children = np.bincount(parents, minlength=d_S)
    record = {
        "d_small": d_S, "d_large": d_L, "threshold": cfg.threshold, "n_rows": n,
        # The curve's novel latents are those of `novelty`; n_novel and fraction_novel are the proxy's.
        "novelty": cfg.novelty, "n_novel_curve": int(cls.novel.sum()),
        "n_novel": n_novel, "fraction_novel": n_novel / d_L, "n_reconstruction": d_L - int(cls.novel.sum()),
        "n_families": int((n_children > 0).sum()), "n_childless_small": int((n_children == 0).sum()),
        "max_children": int(n_children.max()) if d_S else 0,
        "max_cos_mean": float(cls.max_cos.mean()), "max_cos_median": float(np.median(cls.max_cos)),
        "max_cos_histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
        "mse_small": float(mse[0]), "mse_large": float(mse[-1]), "mse_all_novel": float(mse[n_insert]),
        "mse_reconstruction_inserted": sq_recon_inserted / n,
        # Leask et al.'s own test: a latent is novel when inserting it alone lowers S's error.
        "n_novel_by_insertion": int(lowers.sum()), "fraction_novel_by_insertion": float(lowers.mean()),
        "proxy_agreement": float((lowers == proxy.novel).mean()),
        "proxy_novel_lowering": float(lowers[proxy.novel].mean()) if n_novel else None,
        "proxy_reconstruction_lowering": float(lowers[~proxy.novel].mean()) if n_novel < d_L else None,
        "explained_variance_small": ev(mse[0]), "explained_variance_large": ev(mse[-1]),
        "explained_variance_all_novel": ev(mse[n_insert]),
        "curve": curve,
    }
    return record, cls
