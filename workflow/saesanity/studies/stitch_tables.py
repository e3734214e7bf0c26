"""Tidy tables of the stitching and meta-SAE studies (arXiv 2502.04878), one row per (SAE or pair, metric),
with the paper's number beside ours where it has one:

- studies_stitching.csv: per (source, arch, variant, seed, d_small, d_large);
- studies_stitching_curves.csv: every point of every stitching curve;
- studies_meta.csv: per (source, arch, variant, seed, d_sae).

Paper numbers. Novel fraction 0.35: Bussmann and Leask's report that precedes the paper ("Stitching SAEs
of different sizes", AI Alignment Forum, 2024: in GPT-2 SAEs "about 65%" of a larger SAE's latents are
similar to the smaller SAE's and "the remaining 35%" novel); the paper's own text (arXiv 2502.04878) could
not be read here beyond its abstract, so its figure by width is not copied. Decoder variance explained by
the meta-SAE 0.5547: arXiv 2502.04878 (55.47%, 2304 meta-latents on a 49,152-latent SAE, a ratio of 1:21.3),
printed only beside a meta-SAE of that ratio (within 10%): the variance a meta-SAE explains grows with its
ratio, as its baseline on random unit rows of the same shape shows (random_rows_variance_explained). Both are
GPT-2 or Gemma-scale SAEs: on the toy world what compares is the trained SAE against its random baselines, and
each meta-SAE against its random rows, not the value."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from saesanity.atomic import read_json

PAPER_NOVEL_FRACTION = 0.35
PAPER_META_VE = 0.5547
PAPER_META_RATIO = 2304 / 49152
"""Meta-latents per base latent of the paper's meta-SAE."""
PAIR = ["source", "arch", "variant", "seed", "target_l0", "d_small", "d_large"]
SAE = ["source", "arch", "variant", "seed", "target_l0", "d_sae"]
STITCHING_METRICS = ["n_novel", "fraction_novel", "n_novel_curve", "max_cos_mean", "mse_small", "mse_all_novel", "mse_large",
                     "mse_reconstruction_inserted", "explained_variance_small", "explained_variance_all_novel",
                     "explained_variance_large", "n_families", "n_childless_small", "n_novel_by_insertion",
                     "fraction_novel_by_insertion", "proxy_agreement", "proxy_novel_lowering",
                     "proxy_reconstruction_lowering", "init_cos_mean_small", "init_cos_mean_large"]
PAPER_STITCHING = {"fraction_novel": PAPER_NOVEL_FRACTION}


def stitching_rows(files: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stitching table and the curves table."""
    rows, curves = [], []
    for f in sorted(files):
        m = read_json(f)
        key = {k: m[k] for k in PAIR}
        for metric in STITCHING_METRICS:
            rows.append({**key, "metric": metric, "value": m[metric], "paper": PAPER_STITCHING.get(metric)})
        c = m.get("concepts")
        for label in ("novel", "reconstruction"):
            value = c[label]["fraction_new_concept"] if c else None
            rows.append({**key, "metric": f"new_concept_fraction_{label}", "value": value, "paper": None})
        for point in m["curve"]:
            curves.append({**key, **{k: point.get(k) for k in ("point", "phase", "n_latents", "n_small", "n_large",
                                                               "mse", "explained_variance", "ce_sae",
                                                               "ce_loss_recovered")}})
    return pd.DataFrame(rows), pd.DataFrame(curves)


def meta_rows(files: Sequence[str]) -> pd.DataFrame:
    rows = []
    for f in sorted(files):
        m = read_json(f)
        key = {k: m[k] for k in SAE}
        r = m["meta"]
        ratio = r["d_meta"] / r["n_base"]
        paper_ratio = abs(ratio / PAPER_META_RATIO - 1) <= 0.1
        note = "" if paper_ratio else (f"the paper's 0.5547 is at 1:{1 / PAPER_META_RATIO:.1f} meta-latents per base "
                                       f"latent, this one at 1:{1 / ratio:.1f}")
        for metric in ("decoder_variance_explained", "random_rows_variance_explained", "mean_active_per_row",
                       "dead_meta_fraction", "rows_without_meta"):
            ve = metric == "decoder_variance_explained"
            rows.append({**key, "metric": metric, "value": r.get(metric),
                         "paper": PAPER_META_VE if ve and paper_ratio else None, "note": note if ve else ""})
        align = m.get("attribute_alignment")
        rows.append({**key, "metric": "n_entity_latents", "value": align["n_entity_latents"] if align else None,
                     "paper": None, "note": "" if align else "no corpus"})
        for attr, a in sorted((align or {}).get("by_attribute", {}).items()):
            for stat in ("shared_fraction", "chance_fraction", "ratio", "pairs_sharing_meta"):
                rows.append({**key, "metric": f"{attr}_{stat}", "value": a[stat], "paper": None, "note": a["note"]})
    return pd.DataFrame(rows)
