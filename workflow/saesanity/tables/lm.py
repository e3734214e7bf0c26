"""Tidy tables of the language-model part: one row per (SAE, metric) with the mean over seeds and the
paper's Table 2 number beside ours (arXiv 2602.14111), and the toy model's own loss and accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from saesanity.atomic import read_json
from saesanity.paper import table2_paper_value
from saesanity.tables.saturation import with_saturation
from saesanity.tables.tidy import (CORE, consistency_rows, metric_rows, with_paper_values, with_seed_aggregates,
                                   write_csv)

PER_SAE = {"core": CORE, "lm_loss": ["ce_loss_recovered", "kl_div_score", "ce_clean", "ce_sae", "ce_zero"]}
KEY = ["source", "arch", "variant"]


def lm_core_table(core: Sequence[str], lm_loss: Sequence[str], consistency: Sequence[str] = ()) -> pd.DataFrame:
    """Per SAE and mean over seeds; PW-MCC and shared latents (seed 'all') where a variant has >= 2 seeds;
    a metric at its ceiling for every variant (CE loss recovered, KL score, EV) marked `saturated`."""
    per_sae = pd.DataFrame([r for name, files in (("core", core), ("lm_loss", lm_loss))
                            for r in metric_rows(name, files, [(m, m) for m in PER_SAE[name]])])
    table = with_seed_aggregates(per_sae, consistency_rows(consistency), KEY)
    return with_saturation(with_paper_values(table, KEY, lambda r: table2_paper_value(r.arch, r.variant, r.metric)),
                           KEY)


def lm_model_table(metrics_files: Sequence[str]) -> pd.DataFrame:
    """The toy model: next-token loss and accuracy on held-out documents, and answer accuracy and loss on
    attribute prompts per (entity type, attribute, template split)."""
    rows = []
    for f in metrics_files:
        m = read_json(f)
        docs = m["heldout_documents"]
        rows.append({"what": "heldout_documents", "entity_type": "", "attribute": "", "template_split": "",
                     "accuracy": docs["accuracy"], "loss": docs["loss"], "n": docs["tokens"]})
        rows += [{"what": "attribute_prompts", "entity_type": a["entity_type"], "attribute": a["attribute"],
                  "template_split": a["template_split"], "accuracy": a["accuracy"], "loss": a["loss"],
                  "n": a["n_prompts"]} for a in m["attributes"]]
    return pd.DataFrame(rows, columns=["what", "entity_type", "attribute", "template_split", "accuracy", "loss", "n"])


def lm_tables(core: Sequence[str], lm_loss: Sequence[str], consistency: Sequence[str], lm_metrics: Sequence[str],
              out: str | Path, model_out: str | Path) -> None:
    """lm_core.csv (`out`) and lm_model.csv (`model_out`)."""
    write_csv(lm_core_table(core, lm_loss, consistency), Path(out))
    write_csv(lm_model_table(lm_metrics), Path(model_out))
