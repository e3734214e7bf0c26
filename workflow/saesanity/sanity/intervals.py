"""The interval of a verdict's margin (SAE minus the best baseline): a bootstrap over the evaluation's own items,
widened by the baselines' seed-to-seed spread.

Two sources of noise move a margin: which items the evaluation happened to score (blocks of held-out rows,
held-out documents, RAVEL's edits, probing tasks, concepts, latents), and which seed each baseline happened to
train with. The first is resampled: N_BOOT draws of the items (paired where every SAE is scored on the same
items, each SAE's own otherwise; within each group where the metric averages groups first), the metric
recomputed for the SAE and every baseline seed on each draw, and the percentile interval of margin = SAE - max
over baselines of the seed mean taken. The second cannot be estimated from two seeds better than by their range,
so the interval is widened on each side by the spread (the largest max - min over seeds of any baseline).
Without items the interval is margin +- spread: the verdict of the spread alone (saesanity.sanity.verdict)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
"""Two-sided level of the bootstrap interval."""
N_BOOT = 2000
"""Bootstrap draws per metric."""


@dataclass(frozen=True)
class Items:
    """One SAE's per-item values of a metric, whose group-weighted mean is the metric."""

    ids: tuple[str, ...] | None
    """What each item is, shared by every SAE scored on the same items (pairs them); None where each SAE has
    its own items (detection scores the SAE's own latents)."""
    values: np.ndarray
    groups: tuple[str, ...]
    """The metric is the mean over groups of the mean within each group (SAEBench's probing average); one group
    for a plain mean."""
    totals: np.ndarray | None = None
    """Where set, the metric is the ratio sum(values) / sum(totals) instead (EV over blocks of rows)."""

    def value(self) -> float:
        if self.totals is not None:
            return float(self.values.sum() / self.totals.sum())
        groups = np.asarray(self.groups)
        return float(np.mean([self.values[groups == g].mean() for g in np.unique(groups)]))


def items_of(metric: str, record: dict) -> Items | None:
    """The items of a verdict metric in its evaluation's record, or None where the record lists none."""
    if metric in ("sparse_probing_top1", "sparse_probing_top5"):
        key = "top_1" if metric.endswith("1") else "top_5"
        tasks = [t for t in record.get("tasks", []) if t.get(key) is not None]
        if not tasks:
            return None
        # probes.task_group: the data set and label set, as saesanity.evals.probing.probes averages them.
        return Items(tuple(f"{t['dataset']}/{t['task']}" for t in tasks), np.array([t[key] for t in tasks], float),
                     tuple(f"{t['dataset']}/{t['task'].split(':', 1)[0]}" for t in tasks))
    if metric == "explained_variance":
        blocks = record.get("ev_blocks") or {}
        if not blocks.get("total"):
            return None
        n = len(blocks["total"])
        return Items(tuple(f"rows {k * blocks['block_rows']}" for k in range(n)), np.array(blocks["explained"]),
                     ("all",) * n, np.array(blocks["total"]))
    if metric in ("ce_loss_recovered", "kl_div_score"):
        # Both are ratios of sums over the held-out documents (saesanity.evals.lm_loss): per document, the
        # loss the SAE recovers over what zero ablation loses.
        docs = record.get("docs")
        if not docs:
            return None
        d = {k: np.array(v, float) for k, v in docs.items()}
        lost, recovered = ((d["ce_zero"] - d["ce_clean"], d["ce_zero"] - d["ce_sae"]) if metric == "ce_loss_recovered"
                           else (d["kl_zero"], d["kl_zero"] - d["kl_sae"]))
        return Items(tuple(f"doc {k}" for k in range(len(lost))), recovered, ("all",) * len(lost), lost)
    if metric == "ravel":
        # The score is the mean over attribute pairs of the mean of their four accuracies (saesanity.evals.ravel):
        # a group per (pair, part), its held-out examples the items (a part two pairs share is drawn in each on its
        # own). Pairs without a score count for nothing, as in the score.
        pairs = [(i, p) for i, p in enumerate(record.get("pairs", [])) if p.get("score") is not None and "hits" in p]
        if not pairs:
            return None
        ids, values, groups = [], [], []
        for i, p in pairs:
            for part, hits in p["hits"].items():
                group = f"{p['entity_type']}.{p['attribute_a']}/{p['attribute_b']} #{i} {part}"
                ids += [f"{group} {j}" for j in range(len(hits))]
                values += hits
                groups += [group] * len(hits)
        return Items(tuple(ids), np.array(values, float), tuple(groups))
    if metric == "concepts_detected":
        concepts, threshold = record.get("concepts", []), record.get("threshold")
        if not concepts or threshold is None:
            return None
        return Items(tuple(c["concept"] for c in concepts), np.array([c["f1"] >= threshold for c in concepts], float),
                     ("all",) * len(concepts))
    if metric == "autointerp":
        latents = record.get("latents", [])
        if not latents:
            return None
        return Items(None, np.array([r["accuracy"] for r in latents], float), ("all",) * len(latents))
    return None


def _draws(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """[N_BOOT, n] weights: each column an item, each row one bootstrap draw within groups, normalised so that
    weights @ values is the group-weighted mean of the draw."""
    w = np.zeros((N_BOOT, len(groups)))
    names = np.unique(groups)
    for g in names:
        idx = np.flatnonzero(groups == g)
        counts = rng.multinomial(len(idx), np.full(len(idx), 1 / len(idx)), size=N_BOOT)
        w[:, idx] = counts / (len(idx) * len(names))
    return w


def _paired(items: Sequence[Items], common: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """[N_BOOT, n_sae] metric values over draws of the `common` items, which every SAE has."""
    first = {name: g for name, g in zip(items[0].ids, items[0].groups)}
    w = _draws(np.array([first[c] for c in common]), rng)
    out = []
    for i in items:
        index = dict(zip(i.ids, range(len(i.ids))))
        pos = [index[c] for c in common]
        out.append(w @ i.values[pos] / (1 if i.totals is None else w @ i.totals[pos]))
    return np.stack(out, axis=1)


def _unpaired(i: Items, rng: np.random.Generator) -> np.ndarray:
    w = _draws(np.asarray(i.groups), rng)
    return w @ i.values / (1 if i.totals is None else w @ i.totals)


def bootstrap_margins(judged: Mapping[str, Items], baselines: Mapping[str, Sequence[Items]],
                      seed: int) -> tuple[dict[str, tuple[float, float]], int]:
    """Per judged role (the SAE, each control), the bootstrap interval at LEVEL of its margin over the best
    baseline (not yet widened by the spread), and the number of items drawn (the shared ones where paired,
    else the fewest any SAE has; ({}, 0) where paired SAEs share none). `seed` fixes the draws, so a rerun gives
    the same bytes."""
    rng = np.random.default_rng([seed, 25])
    roles = list(judged)
    per_sae = [judged[r] for r in roles] + [i for v in sorted(baselines) for i in baselines[v]]
    if all(i.ids is not None for i in per_sae):
        common = sorted(set.intersection(*(set(i.ids) for i in per_sae)))
        if not common:
            return {}, 0
        boot, n_items = _paired(per_sae, common, rng), len(common)
    else:
        boot = np.stack([_unpaired(i, rng) for i in per_sae], axis=1)
        n_items = min(len(i.values) for i in per_sae)
    at = len(roles)
    best = np.full(N_BOOT, -np.inf)
    for v in sorted(baselines):
        n = len(baselines[v])
        best = np.maximum(best, boot[:, at:at + n].mean(1))
        at += n
    tail = (1 - LEVEL) / 2 * 100
    out = {}
    for k, role in enumerate(roles):
        lo, hi = np.percentile(boot[:, k] - best, [tail, 100 - tail])
        out[role] = (float(lo), float(hi))
    return out, n_items
