"""Does an SAE beat its random baselines? Per metric: the SAE's score, each baseline's seed mean, the margin
over the best baseline, and the margin's interval: a bootstrap over the evaluation's items widened by the best
baseline's seed-to-seed spread (saesanity.sanity.intervals). The SAE beats the baselines where the interval lies
above zero, is below them where it lies below, and is within noise otherwise (arXiv 2602.14111, sec. 6,
recommends this comparison for every new SAE). Every metric here is higher-is-better; L0 is listed to show the
match, not judged.

A verdict that cannot come out either way is not a check, so every check also judges two controls the same way:
- negative: an untrained SAE of the SAE's architecture, width and L0 (variant 'untrained': random unit decoder
  rows, the encoder their transpose, b_dec the data mean, calibrated to the L0; saesanity.sae.variants). A metric
  on which it is not below the best baseline cannot fail an SAE;
- positive, on the toy world: its known concepts as an SAE (variant 'concept_dictionary';
  saesanity.sanity.concept_dictionary). A metric that scores concept structure (`positive` in
  saesanity.evals.registry) on which it does not beat the best baseline cannot pass an SAE;
- trained, on any model: the pipeline's own SAE of the same architecture, width and L0 trained until its held-out
  curve flattened (variant 'trained_control'). Where it converged and beats the baselines on reconstruction
  (`trained` in the registry), that metric has shown it can pass an SAE; where it does not, it has not earned its
  place as a positive control (random baselines matching a trained SAE is the paper's finding, not a fault of the
  metric), so it takes nothing from the power, and verdict.md says the positive side is unshown.
Where the negative or the concept control fails, the metric has no power on this model (`power` 'none'), and the
SAE's verdict on it says nothing. So too where the SAE and the best baseline, the two the margin compares, sit at
the metric's ceiling (`saturated`, Table 2's tolerance, saesanity.tables.saturation): no SAE could beat it there."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from saesanity.atomic import atomic_path, read_json
from saesanity.config import CONCEPT_DICTIONARY, TRAINED_CONTROL, UNTRAINED
from saesanity.evals import registry
from saesanity.evals.identity import SANITY
from saesanity.figures.sanity_verdict import draw_verdict
from saesanity.sanity.intervals import LEVEL, Items, bootstrap_margins, items_of
from saesanity.tables.saturation import SATURATION_TOLERANCE, at_ceiling
from saesanity.tables.tidy import value_of, write_csv


METRICS = [m for m in registry.METRICS if m.judged]
"""What a verdict compares, in saesanity.evals.registry's order (each names its evaluation's file); L0 is shown,
not judged."""
L0 = registry.L0
SAE = "sae"
"""The `variant` column of the SAE's own rows (its cfg.json says 'trained')."""

NEGATIVE = UNTRAINED
"""The `variant` (role) of the negative control's rows; it is judged like the SAE, never a baseline."""
POSITIVE = CONCEPT_DICTIONARY
"""The `variant` (role) of the positive control's rows (toy world only)."""
TRAINED = TRAINED_CONTROL
"""The `variant` (role) of the trained control's rows (sanity.trained_control)."""
CONTROLS = {NEGATIVE: "negative_control", POSITIVE: "positive_control", TRAINED: "trained_control"}
"""Each control's role and the prefix of its columns in verdict.csv."""

BEATS, WITHIN, BELOW, UNDETERMINED = "beats", "within noise", "below", "undetermined"
NOT_MEASURED = "not measured"
"""The evaluation gave no number (null: e.g. RAVEL on a model that answers none of its prompts)."""
HAS_POWER, NO_POWER, POWER_UNKNOWN = "yes", "none", "unknown"
"""The `power` column: every control judged on the metric got the verdict it must get (yes: the negative below,
the positive, where the metric expects it, beats), one did not (none), or the negative control could not be
judged (unknown: no control, no number, or too few seeds). `power_from` names the controls that decided it, and
'ceiling' where the metric is saturated (none, whatever the controls)."""
CEILING = "ceiling"


class NoCheckName(ValueError):
    """A metrics record without the sanity check's name in its identity."""


def metrics_by_check(files: Sequence[str]) -> dict[str, list[str]]:
    """The metrics files of each sanity check, by the check's name in each record's identity (its SAE's
    cfg.json), not by the file's path."""
    by_name: dict[str, list[str]] = {}
    for f in files:
        name = read_json(f).get(SANITY)
        if name is None:
            raise NoCheckName(f"{f} names no sanity check (its SAE was imported or trained before cfg.json "
                              f"recorded the check's name: rerun the check's sanity_import and sanity_train "
                              f"jobs, e.g. snakemake -R sanity_import sanity_train)")
        by_name.setdefault(name, []).append(f)
    return by_name


def read_scores(files: Sequence[str | Path]) -> pd.DataFrame:
    """One row per (role, seed, metric): role 'sae' for the imported SAE (variant 'trained'), else the
    baseline's variant, the value, and its evaluation items where the record lists them
    (saesanity.sanity.intervals); metrics whose evaluation file is absent give no rows."""
    rows = []
    for f in files:
        m = read_json(f)
        eval_name = Path(f).stem
        role = SAE if m["variant"] == "trained" else m["variant"]
        for metric in METRICS + [L0]:
            if metric.evaluation == eval_name:
                v = value_of(m, metric.key, str(f), eval_name)
                rows.append({"role": role, "seed": int(m["seed"]), "metric": metric.name,
                             "value": np.nan if v is None else float(v), "items": items_of(metric.name, m)})
    return pd.DataFrame(rows, columns=["role", "seed", "metric", "value", "items"])


def _judge(value: float, best: float, spread: float, boot: tuple[float, float] | None) -> dict:
    """The margin of `value` over the best baseline mean `best`, its interval (the items' bootstrap interval,
    else the margin itself, widened by the spread on each side) and the verdict it decides."""
    if np.isnan(value):
        return {"margin": np.nan, "verdict": NOT_MEASURED}
    margin = value - best
    if np.isnan(spread):
        return {"margin": margin, "verdict": UNDETERMINED}
    lo, hi = boot if boot is not None else (margin, margin)
    lo, hi = lo - spread, hi + spread
    return {"margin": margin, "margin_low": lo, "margin_high": hi,
            "verdict": BEATS if lo > 0 else BELOW if hi < 0 else WITHIN}


def _bootstrap(m: pd.DataFrame, metric_index: int) -> tuple[dict[str, tuple[float, float]], int]:
    """The items' bootstrap interval of each judged role's margin, and the number of items; ({}, 0) unless
    every SAE's record of this metric lists its items."""
    if "items" not in m or m["items"].isna().any() or m.value.isna().any():
        return {}, 0
    # The SAE, then each control, in this order whatever the order of the files: unpaired items take their
    # bootstrap draws from one stream in turn, so the order decides which draws each SAE gets.
    items = dict(zip(m.role, m["items"]))
    judged = {role: items[role] for role in (SAE, *CONTROLS) if role in items}
    baselines: dict[str, list[Items]] = {}
    for r in m[~m.role.isin([SAE, *CONTROLS])].sort_values(["role", "seed"]).itertuples():
        baselines.setdefault(r.role, []).append(r.items)
    if not baselines:
        return {}, 0
    return bootstrap_margins(judged, baselines, metric_index)


def _power(negative: str | None, positive: str | None, saturated: bool = False,
           trained: str | None = None) -> tuple[str, str]:
    """`power` and `power_from` from the controls' verdicts (positive, trained None where the metric does not
    expect them to beat, or there is none; trained also where it did not converge) and whether the metric is at
    its ceiling. The trained control adds to `power_from` where it beats and takes nothing where it does not."""
    judged = (BEATS, WITHIN, BELOW)
    positive = positive if positive in judged else None
    sources = (["negative"] * (negative in judged) + ["positive"] * bool(positive) + ["trained"] * (trained == BEATS)
               + [CEILING] * saturated)
    if saturated:
        return NO_POWER, "+".join(sources)
    if negative not in judged:
        return POWER_UNKNOWN, ""
    return (HAS_POWER if negative == BELOW and positive in (None, BEATS) else NO_POWER), "+".join(sources)


def _one(values: pd.Series, what: str, metric: str) -> float:
    if len(values) != 1:
        raise ValueError(f"{metric}: expected one score of the {what}, found {len(values)}")
    return float(values.iloc[0])


def verdict_table(scores: pd.DataFrame, trained_earned: bool = True) -> pd.DataFrame:
    """Per metric: sae, baseline_<variant> (seed means), best_baseline and its mean, margin (sae minus best),
    spread (the best baseline's max - min over its seeds: how much the mean the margin compares with moves with
    its seeds alone), margin_low and margin_high (its interval at `level` from a bootstrap over `n_items`
    evaluation items, each side widened by the spread; margin +- spread where the records list no items),
    n_seeds, `saturated` (the SAE and the best baseline mean within SATURATION_TOLERANCE of the metric's maximum),
    and the verdict: beats (margin_low > 0), below (margin_high < 0), within noise, or undetermined (fewer than two
    seeds per baseline, so no spread). Each control (CONTROLS) is judged the same way (<prefix>, its margin and
    verdict), and together they set `power` and `power_from` (the trained control only where `trained_earned`: it
    converged at the SAE's L0)."""
    out = []
    for metric in METRICS + [L0]:
        m = scores[scores.metric == metric.name]
        if m.empty:
            continue
        row = {"metric": metric.name, "label": metric.label, "sae": _one(m[m.role == SAE].value, "SAE itself",
                                                                          metric.name)}
        for role, prefix in CONTROLS.items():
            control = m[m.role == role].value
            if not control.empty:
                row[prefix] = _one(control, prefix.replace("_", " "), metric.name)
        base = m[~m.role.isin([SAE, *CONTROLS])].groupby("role", sort=True).value
        means, ranges, counts = base.mean(), base.max() - base.min(), base.count()
        row.update({f"baseline_{role}": float(v) for role, v in means.items()})
        means = means.dropna()
        if metric is L0 or means.empty or np.isnan(row["sae"]):
            row["verdict"] = "matched" if metric is L0 else NOT_MEASURED
            out.append(row)
            continue
        best_role = means.idxmax()
        # The comparator's own seed range: another baseline's (a degenerate one's, EV -17 +- 1.7 on SmolLM2's cov
        # Frozen Encoder) says nothing about how far the best baseline's mean moves with its seeds.
        spread = float(ranges[best_role]) if counts.min() >= 2 else np.nan
        best = float(means[best_role])
        boot, n_items = _bootstrap(m, METRICS.index(metric))
        row.update(_judge(row["sae"], best, spread, boot.get(SAE)))
        row.update({"best_baseline": best_role, "best_baseline_value": best, "spread": spread,
                    "level": LEVEL if n_items else np.nan, "n_items": n_items, "n_seeds": int(counts.min()),
                    "saturated": at_ceiling(metric.name, [row["sae"], best])})
        for role, prefix in CONTROLS.items():
            if prefix in row:
                judged = _judge(row[prefix], best, spread, boot.get(role))
                row.update({f"{prefix}_{k}": v for k, v in judged.items()})
        row["power"], row["power_from"] = _power(
            row.get("negative_control_verdict"), row.get("positive_control_verdict") if metric.positive else None,
            row["saturated"], row.get("trained_control_verdict") if metric.trained and trained_earned else None)
        out.append(row)
    cols = ["metric", "label", "sae"] + sorted({c for r in out for c in r if c.startswith("baseline_")}) + [
        "best_baseline", "best_baseline_value", "margin", "margin_low", "margin_high", "level", "n_items", "spread",
        "n_seeds", "saturated", "verdict"] + [f"{p}{suffix}" for p in CONTROLS.values()
                                 for suffix in ("", "_margin", "_margin_low", "_margin_high", "_verdict")] + [
        "power", "power_from"]
    return pd.DataFrame(out).reindex(columns=cols)


def baseline_budget(files: Sequence[str | Path]) -> str:
    """The sentence on how far the baselines trained, from their core.json (tokens seen and whether the
    held-out EV curve had flattened, saesanity.train_curve): a verdict against baselines that stopped far
    short of the SAE's own budget flatters the SAE."""
    cores = [read_json(f) for f in files if Path(f).stem == "core"]
    cores = [m for m in cores if m["variant"] not in ("trained", *CONTROLS)]
    tokens = sorted({int(m["tokens_seen"]) for m in cores if m.get("tokens_seen") is not None})
    if not cores or not tokens:
        return ""
    head = (f"The baselines trained on {' / '.join(f'{t:,}' for t in tokens)} tokens each "
            f"(sanity.saes[].train_tokens sets the budget to your SAE's own, else saes.lm.train.n_samples; "
            f"sanity.until_converged doubles it until they converge); ")
    curved = [m for m in cores if m.get("converged") is not None]
    if not curved:
        return head + "where on their training curves they stopped was not measured (no held-out curve)."
    gains = [float(m["ev_gain_last_quarter"]) for m in curved]
    converged = sum(bool(m["converged"]) for m in curved)
    return head + (f"{converged} of {len(curved)} had reached the convergence criterion (held-out EV moved by less "
                   f"than train.converged_ev_gain over the last quarter of training; it moved by {min(gains):+.4f} "
                   f"to {max(gains):+.4f}).")


def trained_control_state(files: Sequence[str | Path]) -> dict | None:
    """The trained control's budget, whether its held-out curve converged and whether its held-out L0 is within
    the tolerance of its target (eval_core records a miss for it instead of stopping), from its core.json (None
    without one)."""
    for f in files:
        if Path(f).stem == "core" and (m := read_json(f))["variant"] == TRAINED:
            deviation, tolerance = m.get("l0_deviation"), m.get("l0_tolerance")
            return {"tokens": m.get("tokens_seen"), "converged": m.get("converged"), "l0_deviation": deviation,
                    "l0_matched": deviation is None or tolerance is None or abs(deviation) <= tolerance}
    return None


def _earned(trained: dict | None) -> bool:
    """Whether the trained control may serve as a positive control: converged, at the SAE's L0."""
    return bool(trained and trained["converged"] and trained.get("l0_matched", True))


def verdict_text(name: str, reference: dict, table: pd.DataFrame, budget: str = "",
                 trained: dict | None = None) -> str:
    """Sentences a researcher can paste: what was compared, how far the baselines trained, then where the SAE
    beats its baselines, by how much, and where it does not."""
    judged = table[table.metric != L0.name]
    baselines = sorted(c.removeprefix("baseline_") for c in table.columns if c.startswith("baseline_"))
    n_seeds = int(judged.n_seeds.min()) if judged.n_seeds.notna().any() else 0
    head = (f"SAE `{name}` ({reference['format']}, {reference['arch']}, {reference['d_sae']} latents, "
            f"L0 {reference['heldout_l0']:.1f} on held-out activations of {reference['source']}) against "
            f"{len(baselines)} random baseline{'s' * (len(baselines) != 1)} of the same architecture, width and L0 "
            f"({', '.join(baselines)}; {n_seeds} seeds each; arXiv 2602.14111).")
    lines = [head] + ([budget] if budget else []) + [
        f"Each margin's interval: a {LEVEL:.0%} bootstrap over the evaluation's items (blocks of held-out rows, "
        f"held-out documents, RAVEL's edits, probing tasks, scored latents, concepts; paired where every SAE is "
        f"scored on the same ones), widened on each side by the best baseline's seed-to-seed spread (its range "
        f"over seeds); the margin +- the spread where the evaluation lists no items (n_items in verdict.csv)."]
    for verdict, what in ((BEATS, "It beats the best baseline (the margin's interval above zero) on"),
                          (WITHIN, "It is within noise of the best baseline (the interval includes zero) on"),
                          (BELOW, "It is below the best baseline (the interval below zero) on"),
                          (UNDETERMINED, "Undetermined (fewer than two baseline seeds) on")):
        rows = judged[judged.verdict == verdict]
        if not rows.empty:
            items = [f"{r.label} ({r.sae:.3f} vs {r.best_baseline_value:.3f} for {r.best_baseline}, "
                     f"margin {r.margin:+.3f}{_interval(r)})" for r in rows.itertuples()]
            lines.append(f"{what}: " + "; ".join(items) + ".")
    if "saturated" in judged and judged.saturated.eq(True).any():
        rows = judged[judged.saturated.eq(True)]
        lines.append(f"At its ceiling (the SAE and the best baseline within {SATURATION_TOLERANCE:g} of the "
                     f"metric's maximum): " + "; ".join(f"{r.label} ({r.sae:.3f} vs {r.best_baseline_value:.3f})"
                                               for r in rows.itertuples()) +
                     ". No SAE could beat the baselines there: its verdict holds by construction, and the metric "
                     "has no power on this model whatever the controls show.")
    missing = judged[judged.verdict == NOT_MEASURED]
    if not missing.empty:
        lines.append("Not measured (the evaluation gave no number): " + ", ".join(missing.label) + ".")
    l0 = table[table.metric == L0.name]
    positive_l0 = float(l0.positive_control.iloc[0]) if len(l0) and pd.notna(l0.positive_control.iloc[0]) else None
    lines += control_text(judged, positive_l0, trained)
    return "\n\n".join(lines) + "\n"


def _interval(r) -> str:
    if pd.isna(r.margin_low):
        return ""
    return (f" in [{r.margin_low:+.3f}, {r.margin_high:+.3f}], spread {r.spread:.3f}"
            f"{f', {int(r.n_items)} items' if r.n_items else ''}")


def control_text(judged: pd.DataFrame, positive_l0: float | None = None, trained: dict | None = None) -> list[str]:
    """What the controls say about each metric's power (module docstring); `positive_l0` the positive control's
    held-out L0, `trained` the trained control's trained_control_state."""
    def items(rows: pd.DataFrame, prefix: str) -> str:
        return "; ".join(f"{r.label} ({getattr(r, prefix):.3f}, margin {getattr(r, prefix + '_margin'):+.3f})"
                         for r in rows.itertuples())
    if "negative_control_verdict" not in judged or judged.negative_control_verdict.isna().all():
        return ["No negative control was judged, so nothing here shows that these metrics can fail an SAE."]
    neg = judged.negative_control_verdict
    lines = ["Negative control: an untrained SAE of the same architecture, width and L0 (random unit decoder rows, "
             "the encoder their transpose, b_dec the data mean), judged the same way."]
    if (neg == BELOW).any():
        lines.append(f"It is below the best baseline, as it must be, on: "
                     f"{items(judged[neg == BELOW], 'negative_control')}.")
    if neg.isin([WITHIN, BEATS]).any():
        lines.append(f"It is NOT below the best baseline on: "
                     f"{items(judged[neg.isin([WITHIN, BEATS])], 'negative_control')}. On this model these "
                     f"metrics cannot tell a dictionary no one trained from the random baselines: they have no "
                     f"power here, and the SAE's verdict on them says nothing.")
    if "positive_control_verdict" not in judged or judged.positive_control_verdict.isna().all():
        lines.append("No concept control on this model (the concept dictionary needs known concepts: the toy "
                     "world's), so nothing here shows that the concept metrics can pass a good SAE.")
    else:
        expected = _expects(judged, "positive")
        pos = judged.positive_control_verdict
        l0 = "" if positive_l0 is None else f", L0 {positive_l0:.1f}"
        lines.append(f"Positive control: the toy world's known concepts as an SAE (one JumpReLU latent per concept, "
                     f"the concept check's ideal detector{l0}), judged the same way; it must beat the baselines on "
                     f"the metrics that score concept structure.")
        if (expected & (pos == BEATS)).any():
            lines.append(f"It beats them, as it must, on: "
                         f"{items(judged[expected & (pos == BEATS)], 'positive_control')}.")
        failed = expected & pos.isin([WITHIN, BELOW])
        if failed.any():
            lines.append(f"It does NOT beat them on: {items(judged[failed], 'positive_control')}. On this model these "
                         f"metrics cannot rank a dictionary of the known concepts above random ones: they have no "
                         f"power here either, and the SAE's verdict on them says nothing.")
        shown = ~expected & pos.isin([BEATS, WITHIN, BELOW])
        if shown.any():
            lines.append(f"Not expected to beat them on reconstruction (it runs at its concepts' L0, not the SAE's) "
                         f"nor on RAVEL (it has no latent for an entity's attribute), shown for reference: "
                         f"{items(judged[shown], 'positive_control')}.")
    lines += _trained_text(judged, trained, items)
    unknown = judged[(judged.power == POWER_UNKNOWN) & (judged.verdict != NOT_MEASURED)]
    if not unknown.empty:
        lines.append("The controls could not be judged on: " + ", ".join(unknown.label) + ".")
    return lines


def _expects(judged: pd.DataFrame, control: str) -> pd.Series:
    """Per row, whether the metric expects that positive control to beat (the registry's Metric.positive and
    Metric.trained)."""
    return judged.metric.map({m.name: getattr(m, control) for m in METRICS}).fillna(False).astype(bool)


def _trained_text(judged: pd.DataFrame, trained: dict | None, items) -> list[str]:
    if "trained_control_verdict" not in judged or judged.trained_control_verdict.isna().all():
        return []
    converged = bool((trained or {}).get("converged"))
    tokens = (trained or {}).get("tokens")
    where = f"trained on {tokens:,} tokens, " if tokens else ""
    lines = [f"Trained control: the pipeline's own SAE of the same architecture, width and L0, {where}the "
             f"baselines' budget doubled until its held-out curve flattened (sanity.trained_control), judged the same "
             f"way; where it beats the baselines on reconstruction, that metric has shown it can pass an SAE."]
    if not converged:
        return lines + ["Its held-out curve had NOT flattened within its budget ladder, so it has not earned its "
                        "place as a positive control: its verdicts are in verdict.csv, not used for power."]
    if not (trained or {}).get("l0_matched", True):
        return lines + [f"Its held-out L0 missed the SAE's by {trained['l0_deviation']:+.0%}, beyond the L0 check's "
                        f"tolerance, so it is no like-for-like positive control: its verdicts are in verdict.csv, "
                        f"not used for power."]
    expected = _expects(judged, "trained")
    verdict = judged.trained_control_verdict
    if (expected & (verdict == BEATS)).any():
        lines.append(f"It beats them on: {items(judged[expected & (verdict == BEATS)], 'trained_control')}: "
                     f"there the check can pass a good SAE.")
    short = expected & verdict.isin([WITHIN, BELOW])
    if short.any():
        lines.append(f"It does not beat them on: {items(judged[short], 'trained_control')}. "
                     f"A trained SAE that does not beat random ones is the paper's question, not a fault of the "
                     f"metric, so it is no positive control there: that the metric can pass an SAE is not shown.")
    return lines


def write_verdict(name: str, reference: dict, metric_files: Sequence[str | Path], out_dir: str | Path) -> pd.DataFrame:
    """<out_dir>/verdict.csv, verdict.md and verdict.png (and .pdf) of one SAE."""
    out_dir = Path(out_dir)
    scores = read_scores(metric_files)
    trained = trained_control_state(metric_files)
    table = verdict_table(scores, trained_earned=_earned(trained))
    write_csv(table, out_dir / "verdict.csv")
    with atomic_path(out_dir / "verdict.md") as tmp:
        tmp.write_text(verdict_text(name, reference, table, baseline_budget(metric_files), trained))
    powerless = table[table.power == NO_POWER]
    draw_verdict(name, scores, table, out_dir / "verdict", (SAE, NEGATIVE, POSITIVE, TRAINED),
                 {r.metric: "at its ceiling" if r.saturated else "a control did not get its verdict"
                  for r in powerless.itertuples()})
    return table
