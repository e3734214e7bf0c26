"""results/vision/vision_table2.csv: Table 2 of arXiv 2602.14111 for the vision model (trained SAEs against
the random baselines, seed means), with the vision evaluations in place of the language-model ones: EV, L0,
loss and accuracy recovered with the SAE spliced in, sparse probing top-1 and top-5 on the image labels, the
fraction of the world's concepts some latent detects at F1 >= threshold (and how many), and detection scoring;
plus vision_model.csv (the toy ViT's held-out accuracy). The paper states its vision result in words, so
`paper_value` is empty and `paper_note` says so."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from saesanity.atomic import read_json
from saesanity.paper import PaperValue
from saesanity.tables.tidy import (IDENTITY, MetricsFileError, caveat, value_of, with_paper_values,
                                   with_seed_aggregates)

KEY = ["source", "arch", "variant", "target_l0"]
REFERENCE = "reference"
# (eval file, dotted key in it, metric in the table); a section that is null (no patch concepts: an image
# folder) gives NaN.
COLUMNS: list[tuple[str, str, str]] = [
    ("core", "explained_variance", "explained_variance"),
    ("core", "l0", "l0"),
    ("vision", "splice.loss_recovered", "loss_recovered"),
    ("vision", "splice.accuracy_recovered", "accuracy_recovered"),
    ("vision", "splice.accuracy_sae", "accuracy_spliced"),
    ("vision", "probing.top_1", "sparse_probing_top1"),
    ("vision", "probing.top_5", "sparse_probing_top5"),
    ("vision", "concepts.fraction_detected", "concepts_detected"),
    ("vision", "concepts.n_detected", "concepts_detected_count"),
    ("vision", "concepts.mean_best_f1", "concepts_mean_best_f1"),
    ("vision", "detection.score", "detection"),
]
METRICS = [m for _, _, m in COLUMNS]
PAPER_NOTE = ("arXiv 2602.14111 states its vision result (CLIP) in words: random baselines give similarly "
              "interpretable features; no number to put here")


def _get(m: dict, key: str):
    """m's value at a dotted key; None where a section on the way is null or the key is absent."""
    for part in key.split("."):
        if m is None or part not in m:
            return None
        m = m[part]
    return m


def sae_rows(core: Sequence[str], vision: Sequence[str]) -> list[dict]:
    by_eval = {"core": {}, "vision": {}}
    for name, files in (("core", core), ("vision", vision)):
        for f in files:
            m = read_json(f)
            ident = {k: value_of(m, k, str(f), name) for k in IDENTITY}
            by_eval[name][(ident["source"], ident["arch"], ident["variant"], ident["seed"], ident["target_l0"])] = (ident, m)
    if set(by_eval["core"]) != set(by_eval["vision"]):
        raise MetricsFileError("vision table: core.json and vision.json are not of the same SAEs: "
                               f"{sorted(set(by_eval['core']) ^ set(by_eval['vision']))}")
    rows = []
    for key, (ident, core_m) in sorted(by_eval["core"].items(), key=lambda kv: str(kv[0])):
        files = {"core": core_m, "vision": by_eval["vision"][key][1]}
        base = {**ident, "seed": str(ident["seed"]), "caveat": caveat(core_m)}
        for name, dotted, metric in COLUMNS:
            v = _get(files[name], dotted)
            rows.append({**base, "metric": metric, "value": np.nan if v is None else float(v)})
    return rows


def reference_rows(files: Sequence[str]) -> list[dict]:
    """The concept check of the ideal and the random dictionary (vision_concepts_reference.json)."""
    rows = []
    for f in files:
        m = read_json(f)
        for variant in ("ideal", "random"):
            ident = {"source": m["source"], "arch": REFERENCE, "variant": variant, "seed": "0", "d_sae": m["d_sae"],
                     "target_l0": m["target_l0"], "caveat": ""}
            rows += [{**ident, "metric": "concepts_detected", "value": float(m[variant]["fraction_detected"])},
                     {**ident, "metric": "concepts_detected_count", "value": float(m[variant]["n_detected"])},
                     {**ident, "metric": "concepts_mean_best_f1", "value": float(m[variant]["mean_best_f1"])}]
    return rows


def vision_table2(core: Sequence[str], vision: Sequence[str], reference: Sequence[str] = ()) -> pd.DataFrame:
    rows = sae_rows(core, vision) + reference_rows(reference)
    if not rows:
        raise MetricsFileError("vision table: no metrics files given")
    table = with_seed_aggregates(pd.DataFrame(rows), (), KEY)
    table = with_paper_values(table, KEY, lambda r: PaperValue(np.nan, PAPER_NOTE) if r.arch != REFERENCE else None)
    return table.drop(columns="init")


def vision_model_table(files: Sequence[str]) -> pd.DataFrame:
    """The toy ViT's loss and accuracy (mean over its heads), its count head's, and a majority vote's, on
    held-out images and on 1000 training images."""
    rows = []
    for f in files:
        m = read_json(f)
        for split in ("heldout", "train_subset"):
            for metric in ("accuracy", "count_accuracy", "majority_accuracy", "loss"):
                rows.append({"split": split, "metric": metric, "value": m[split][metric],
                             "n_images": m[split]["n_images"]})
    return pd.DataFrame(rows, columns=["split", "metric", "value", "n_images"])


def concepts_table(vision: Sequence[str], reference: Sequence[str] = ()) -> pd.DataFrame:
    """vision_concepts.csv: per SAE (and reference dictionary) and concept, the best latent's F1 and whether it
    reaches the threshold; empty where there are no patch concepts (an image folder)."""
    rows = []
    for f in vision:
        m = read_json(f)
        if m.get("concepts") is None:
            continue
        ident = {k: m[k] for k in ("source", "arch", "variant", "seed", "target_l0")}
        rows += [{**ident, "concept": c["concept"], "support": c["support"], "best_latent": c["best_latent"],
                  "f1": c["f1"], "detected": c["f1"] >= m["concepts"]["threshold"]} for c in m["concepts"]["concepts"]]
    for f in reference:
        m = read_json(f)
        for variant in ("ideal", "random"):
            rec = m[variant]
            rows += [{"source": m["source"], "arch": REFERENCE, "variant": variant, "seed": 0,
                      "target_l0": m["target_l0"], "concept": c["concept"], "support": c["support"],
                      "best_latent": c["best_latent"], "f1": c["f1"], "detected": c["f1"] >= rec["threshold"]}
                     for c in rec["concepts"]]
    cols = ["source", "arch", "variant", "seed", "target_l0", "concept", "support", "best_latent", "f1", "detected"]
    return pd.DataFrame(rows, columns=cols).sort_values(["source", "arch", "variant", "seed", "concept"],
                                                        kind="stable").reset_index(drop=True)


def vision_tables(core: Sequence[str], vision: Sequence[str], model: Sequence[str],
                  reference: Sequence[str]) -> dict[str, pd.DataFrame]:
    """results/vision/'s tables by name: vision_table2, vision_model (toy ViT only) and vision_concepts (where
    there are patch concepts). The figure drawn from vision_table2 is saesanity.figures.render's."""
    tables = {"vision_table2": vision_table2(core, vision, reference)}
    if model:
        tables["vision_model"] = vision_model_table(model)
    concepts = concepts_table(vision, reference)
    if len(concepts):
        tables["vision_concepts"] = concepts
    return tables
