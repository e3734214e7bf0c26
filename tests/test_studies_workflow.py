"""results/studies end to end on the tiny preset: the width family through the train rule, stitching of the
two widths, the meta-SAEs, the four probing regimes, and the tables and figures that read them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from snakemake_runs import TINY, job_counts, snakemake


@pytest.mark.workflow
def test_studies_end_to_end(tiny_run, tmp_path):
    root = Path(shutil.copytree(tiny_run, tmp_path / "run", symlinks=True))  # copy2 keeps the mtimes
    counts = job_counts(snakemake(root, "-n", "results/studies", *TINY).stdout)
    # Widths 64 and 128, two variants; the 128 members are the headline SAEs (same training), not retrained.
    assert counts["train"] == 2 and counts["stitching"] == 2 and counts["meta_sae"] == 2
    assert counts["regimes_prep"] == 1 and counts["regimes_baselines"] == 1 and counts["eval_regimes"] == 2
    snakemake(root, "results/studies", *TINY)
    out = root / "results/studies"
    for name in ("studies_widths", "studies_stitching", "studies_stitching_curves", "studies_meta", "probing_regimes",
                 "probing_regimes_quiver"):
        assert (out / f"{name}.csv").is_file(), name
    for name in ("studies_stitching_curves", "studies_novel_fraction", "studies_meta_ve", "probing_regimes"):
        assert (out / f"{name}.png").stat().st_size > 1000, name

    source = next((root / "results/saes").glob("toyworld-*")).name
    for variant in ("trained", "soft_frozen_decoder-iso"):
        rec = json.loads((root / f"results/metrics/{source}/batchtopk/{variant}/seed0/stitching.json").read_text())
        assert (rec["d_small"], rec["d_large"]) == (64, 128) and 0 <= rec["fraction_novel"] <= 1
        # The curve runs from the smaller SAE to the larger: its ends are their held-out MSEs (eval_core's).
        small = json.loads((root / f"results/metrics/{source}/batchtopk-w_64/{variant}/seed0/core.json").read_text())
        large = json.loads((root / f"results/metrics/{source}/batchtopk/{variant}/seed0/core.json").read_text())
        assert rec["curve"][0]["mse"] == pytest.approx(small["mse"], rel=1e-5)
        assert rec["curve"][-1]["mse"] == pytest.approx(large["mse"], rel=1e-5)
        assert rec["curve"][0]["n_latents"] == 64 and rec["curve"][-1]["n_latents"] == 128
    stitched = pd.read_csv(out / "studies_stitching.csv")
    assert set(stitched.variant) == {"trained", "soft_frozen_decoder-iso"}
    assert stitched.loc[stitched.metric == "fraction_novel", "paper"].eq(0.35).all()
    meta = pd.read_csv(out / "studies_meta.csv")
    ve = meta[meta.metric == "decoder_variance_explained"]
    assert len(ve) == 2 and ve.value.between(-1, 1).all()
    # The paper's 55.47% is at 1:21.3 meta-latents per latent; the tiny preset's 16 for 128 is 1:8.0.
    assert ve.paper.isna().all() and ve.note.str.contains("1:21.3").all() and ve.note.str.contains("1:8.0").all()
    random_rows = meta[meta.metric == "random_rows_variance_explained"]
    assert len(random_rows) == 2 and random_rows.value.between(-1, 1).all()
    quiver = pd.read_csv(out / "probing_regimes_quiver.csv", dtype={"value": str})
    assert set(quiver.variant) == {"trained", "soft_frozen_decoder-iso"}
    assert {"scarcity", "imbalance", "noise", "shift"} <= set(quiver.regime)
    widths = pd.read_csv(out / "studies_widths.csv")
    assert sorted(widths.d_sae.unique()) == [64, 128]
    # A rerun has nothing to do; the default target never asked for any of it.
    assert job_counts(snakemake(root, "-n", "results/studies", *TINY).stdout) == {}
