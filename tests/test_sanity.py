"""The sanity check of SAEs from elsewhere (config `sanity`): the verdict's arithmetic on planted scores, the
config checks that refuse bad SAEs before any job runs, and an end-to-end run on the tiny preset with one SAE
given by path and one by example."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from saesanity.atomic import write_json
from saesanity.sanity.verdict import (BEATS, BELOW, HAS_POWER, NEGATIVE, NO_POWER, NOT_MEASURED, POSITIVE,
                                      POWER_UNKNOWN, TRAINED, UNDETERMINED, WITHIN, NoCheckName, baseline_budget,
                                      metrics_by_check, read_scores, verdict_table, verdict_text)
from snakemake_runs import TINY, copy_workflow, snakemake


def planted(sae: float, baselines: dict[str, list[float]], metric: str = "explained_variance",
            control: float | None = None, positive: float | None = None, trained: float | None = None) -> pd.DataFrame:
    rows = [{"role": "sae", "seed": 0, "metric": metric, "value": sae}]
    rows += [] if trained is None else [{"role": TRAINED, "seed": 0, "metric": metric, "value": trained}]
    rows += [] if control is None else [{"role": NEGATIVE, "seed": 0, "metric": metric, "value": control}]
    rows += [] if positive is None else [{"role": POSITIVE, "seed": 0, "metric": metric, "value": positive}]
    rows += [{"role": v, "seed": s, "metric": metric, "value": x} for v, xs in baselines.items()
             for s, x in enumerate(xs)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("sae,verdict", [(0.80, BEATS), (0.63, WITHIN), (0.57, WITHIN), (0.50, BELOW)])
def test_verdict_against_the_best_baseline_and_the_seed_spread(sae, verdict):
    # Best baseline: fd_iso, mean 0.60. Spread: its own range over seeds, 0.04; fe_iso's wider one (0.30-0.45),
    # a baseline the margin does not compare with, would have made 0.50 "within noise".
    row = verdict_table(planted(sae, {"fd_iso": [0.58, 0.62], "fe_iso": [0.30, 0.45]})).iloc[0]
    assert row.best_baseline == "fd_iso"
    assert row.best_baseline_value == pytest.approx(0.60)
    assert row.margin == pytest.approx(sae - 0.60)
    assert row.spread == pytest.approx(0.04)
    assert row.baseline_fe_iso == pytest.approx(0.375)
    assert row.verdict == verdict


@pytest.mark.parametrize("control,verdict,power", [(0.30, BELOW, HAS_POWER), (0.59, WITHIN, NO_POWER),
                                                   (0.70, BEATS, NO_POWER)])
def test_the_negative_control_is_judged_like_the_sae_and_sets_the_power(control, verdict, power):
    # Best baseline 0.60, spread 0.02: an untrained SAE must come out below, else the metric cannot fail an SAE.
    row = verdict_table(planted(0.80, {"fd_iso": [0.59, 0.61], "fe_iso": [0.40, 0.45]}, control=control)).iloc[0]
    assert row.verdict == BEATS  # the SAE's own verdict is kept either way
    assert row.negative_control == pytest.approx(control)
    assert row.negative_control_margin == pytest.approx(control - 0.60)
    assert row.negative_control_verdict == verdict and row.power == power
    assert "baseline_untrained" not in row.index  # the control is never a baseline


@pytest.mark.parametrize("metric,positive,verdict,power", [
    ("autointerp", 0.90, BEATS, HAS_POWER), ("autointerp", 0.62, WITHIN, NO_POWER),
    ("sparse_probing_top1", 0.40, BELOW, NO_POWER),
    # Not expected to beat the baselines on reconstruction or RAVEL: shown, and the negative control decides.
    ("explained_variance", 0.40, BELOW, HAS_POWER), ("ravel", 0.40, BELOW, HAS_POWER)])
def test_the_positive_control_must_beat_the_baselines_where_the_metric_expects_it(metric, positive, verdict, power):
    row = verdict_table(planted(0.80, {"fd_iso": [0.59, 0.61], "fe_iso": [0.40, 0.45]}, metric, control=0.30,
                                positive=positive)).iloc[0]
    assert row.positive_control == pytest.approx(positive)
    assert row.positive_control_margin == pytest.approx(positive - 0.60)
    assert row.positive_control_verdict == verdict and row.power == power
    assert row.power_from == ("negative" if metric in ("explained_variance", "ravel") else "negative+positive")
    assert "baseline_concept_dictionary" not in row.index


@pytest.mark.parametrize("metric,trained,converged,verdict,power_from", [
    ("explained_variance", 0.90, True, BEATS, "negative+trained"),
    ("explained_variance", 0.62, True, WITHIN, "negative"),   # no positive control there: it takes nothing
    ("explained_variance", 0.90, False, BEATS, "negative"),   # it has not converged: not a positive control
    ("autointerp", 0.90, True, BEATS, "negative")])           # not expected on concept metrics
def test_the_trained_control_adds_power_only_where_it_converged_and_beats(metric, trained, converged, verdict,
                                                                          power_from):
    scores = planted(0.80, {"fd_iso": [0.59, 0.61], "fe_iso": [0.40, 0.45]}, metric, control=0.30, trained=trained)
    row = verdict_table(scores, trained_earned=converged).iloc[0]
    assert row.trained_control == pytest.approx(trained) and row.trained_control_verdict == verdict
    assert (row.power, row.power_from) == (HAS_POWER, power_from)
    assert "baseline_trained_control" not in row.index


def test_text_says_what_the_trained_control_shows():
    ref = {"format": "saelens", "arch": "topk", "d_sae": 64, "heldout_l0": 4.0, "source": "toy-h"}
    table = verdict_table(pd.concat([planted(0.8, {"fd_iso": [0.5, 0.6]}, control=0.2, trained=0.9),
                                     planted(0.8, {"fd_iso": [0.5, 0.6]}, "ce_loss_recovered", control=0.2,
                                             trained=0.58)]))
    text = verdict_text("mine", ref, table, trained={"tokens": 49152, "converged": True})
    assert "trained on 49,152 tokens" in text
    assert "It beats them on: explained variance (Eq. 5) (0.900, margin +0.350): there the check can pass" in text
    assert "It does not beat them on: CE loss recovered (0.580, margin +0.030)" in text
    unconverged = verdict_text("mine", ref, table, trained={"tokens": 49152, "converged": False})
    assert "had NOT flattened" in unconverged and "It beats them on" not in unconverged
    off_l0 = verdict_text("mine", ref, table, trained={"tokens": 49152, "converged": True, "l0_deviation": 0.895,
                                                       "l0_matched": False})
    assert "Its held-out L0 missed the SAE's by +90%" in off_l0 and "It beats them on" not in off_l0


def test_a_trained_control_off_its_l0_is_recorded_not_fatal_and_earns_nothing(tmp_path):
    from saesanity.evals.l0_match import L0Match, L0Mismatch, check_l0
    from saesanity.pipeline.specs import l0_match_spec
    from saesanity.sanity.verdict import _earned, trained_control_state
    from snakemake.utils import validate
    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    validate(config, str(Path(__file__).parents[1] / "workflow/schemas/config.schema.yaml"), set_default=True)
    source = f"{config['lm']['name']}-{config['lm']['hooks'][0]}"
    match = {v: L0Match(**json.loads(l0_match_spec(config, source, "batchtopk-sanity_mine", v)))
             for v in ("trained_control", "frozen_decoder-iso")}
    with pytest.raises(L0Mismatch):  # a baseline off its L0 still stops the check
        check_l0("baseline", 15.86, 8.37, match["frozen_decoder-iso"])
    record = check_l0("control", 15.86, 8.37, match["trained_control"])
    write_json(tmp_path / "core.json", {"variant": "trained_control", "tokens_seen": 65536, "converged": True,
                                        **record})
    state = trained_control_state([tmp_path / "core.json"])
    assert state["l0_deviation"] == pytest.approx(0.895, abs=1e-3) and not state["l0_matched"] and not _earned(state)
    assert _earned({**state, "l0_deviation": 0.1, "l0_matched": True})


def test_text_says_what_the_positive_control_shows():
    ref = {"format": "saelens", "arch": "topk", "d_sae": 64, "heldout_l0": 4.0, "source": "toy-h"}
    scores = pd.concat([planted(0.9, {"fd_iso": [0.5, 0.6]}, "autointerp", control=0.2, positive=0.95),
                        planted(0.7, {"fd_iso": [0.5, 0.6]}, "sparse_probing_top1", control=0.2, positive=0.58),
                        planted(0.7, {"fd_iso": [0.5, 0.6]}, control=0.2, positive=0.3),
                        planted(4.0, {"fd_iso": [4.0, 4.0]}, "l0", control=4.0, positive=1.5)])
    text = verdict_text("mine", ref, verdict_table(scores))
    assert "L0 1.5" in text
    assert "It beats them, as it must, on: AutoInterp detection accuracy (0.950, margin +0.400)" in text
    assert "It does NOT beat them on: sparse probing top-1 (0.580, margin +0.030)" in text
    assert "shown for reference: explained variance (Eq. 5) (0.300, margin -0.250)" in text
    without = verdict_text("mine", ref, verdict_table(planted(0.9, {"fd_iso": [0.5, 0.6]}, control=0.2)))
    assert "No concept control on this model" in without


def test_without_a_judged_control_the_power_is_unknown_and_the_text_says_so():
    ref = {"format": "saelens", "arch": "topk", "d_sae": 64, "heldout_l0": 4.0, "source": "toy-h"}
    bare = verdict_table(planted(0.9, {"fd_iso": [0.5, 0.6]}))
    assert bare.iloc[0].power == POWER_UNKNOWN
    assert "nothing here shows that these metrics can fail an SAE" in verdict_text("mine", ref, bare)
    one_seed = verdict_table(planted(0.9, {"fd_iso": [0.5]}, control=0.1))
    assert one_seed.iloc[0].negative_control_verdict == UNDETERMINED and one_seed.iloc[0].power == POWER_UNKNOWN


def test_text_marks_the_metrics_without_power():
    table = verdict_table(pd.concat([planted(0.9, {"fd_iso": [0.5, 0.6]}, control=0.2),
                                     planted(0.7, {"fd_iso": [0.5, 0.6]}, "sparse_probing_top1", control=0.58)]))
    ref = {"format": "saelens", "arch": "topk", "d_sae": 64, "heldout_l0": 4.0, "source": "toy-h"}
    text = verdict_text("mine", ref, table)
    assert "below the best baseline, as it must be, on: explained variance (Eq. 5) (0.200, margin -0.350)" in text
    assert "NOT below the best baseline on: sparse probing top-1 (0.580, margin +0.030)" in text
    assert "they have no power here" in text


@pytest.mark.parametrize("sae,baselines,saturated", [
    (0.999, {"fd_iso": [0.996, 0.998], "fe_iso": [0.40, 0.45]}, True),   # CE loss on the toy world: the best
    (0.999, {"fd_iso": [0.975, 0.985], "fe_iso": [0.40, 0.45]}, False),  # the best baseline 0.02 short of 1
    (0.98, {"fd_iso": [0.995, 0.998]}, False)])                          # the SAE short of it
def test_a_metric_at_its_ceiling_has_no_power_whatever_the_controls(sae, baselines, saturated):
    # The negative control (0.90) is below either way; at the ceiling no SAE could beat the baselines.
    table = verdict_table(planted(sae, baselines, "ce_loss_recovered", control=0.90))
    row = table.iloc[0]
    assert row.saturated == saturated and row.negative_control_verdict == BELOW
    assert (row.power, row.power_from) == ((NO_POWER, "negative+ceiling") if saturated else (HAS_POWER, "negative"))
    ref = {"format": "saelens", "arch": "topk", "d_sae": 64, "heldout_l0": 4.0, "source": "toy-h"}
    text = verdict_text("mine", ref, table)
    assert ("At its ceiling (the SAE and the best baseline within 0.01 of the metric's maximum): CE loss recovered "
            "(0.999 vs 0.997)" in text) == saturated


def test_one_seed_gives_no_spread_and_no_verdict():
    row = verdict_table(planted(0.9, {"fd_iso": [0.5]})).iloc[0]
    assert np.isnan(row.spread) and row.verdict == UNDETERMINED


def test_a_metric_without_a_number_is_not_judged():
    table = verdict_table(planted(float("nan"), {"fd_iso": [float("nan"), float("nan")]}, "ravel"))
    assert table.iloc[0].verdict == NOT_MEASURED


def test_l0_is_listed_as_matched_not_judged():
    table = verdict_table(pd.concat([planted(0.9, {"fd_iso": [0.5, 0.6]}),
                                     planted(16.0, {"fd_iso": [16.2, 15.9]}, "l0")]))
    assert list(table.metric) == ["explained_variance", "l0"]
    assert table.set_index("metric").loc["l0", "verdict"] == "matched"


def test_text_names_each_verdict_with_its_numbers():
    table = verdict_table(pd.concat([planted(0.9, {"fd_iso": [0.5, 0.6]}),
                                     planted(0.5, {"fd_iso": [0.5, 0.6]}, "ravel")]))
    ref = {"format": "saelens", "arch": "topk", "d_sae": 64, "heldout_l0": 4.0, "source": "toy-h"}
    text = verdict_text("mine", ref, table)
    assert "beats the best baseline" in text
    assert "explained variance (Eq. 5) (0.900 vs 0.550 for fd_iso, margin +0.350" in text
    assert "within noise of the best baseline (the interval includes zero) on: RAVEL" in text


def test_the_baselines_budget_is_stated(tmp_path):
    files = []
    for variant, seed, payload in (("trained", 0, {"tokens_seen": None}),
                                   ("frozen_decoder-iso", 0, {"tokens_seen": 4096, "converged": True,
                                                              "ev_gain_last_quarter": 0.001}),
                                   ("frozen_decoder-iso", 1, {"tokens_seen": 4096, "converged": False,
                                                              "ev_gain_last_quarter": 0.02})):
        f = tmp_path / variant / f"seed{seed}" / "core.json"
        f.parent.mkdir(parents=True)
        write_json(f, {"variant": variant, "seed": seed, **payload})
        files.append(f)
    text = baseline_budget(files)
    assert text.startswith("The baselines trained on 4,096 tokens each") and "1 of 2 had reached" in text
    assert "it moved by +0.0010 to +0.0200" in text
    assert baseline_budget(files[:1]) == ""  # no baseline: nothing to state
    # Without a held-out curve nothing says where they stopped, which is not "0 of 2 converged".
    for f in files[1:]:
        write_json(f, {**json.loads(f.read_text()), "converged": None})
    assert "was not measured (no held-out curve)" in baseline_budget(files)


def test_scores_read_from_metrics_files(tmp_path):
    def write(variant, seed, name, payload):
        f = tmp_path / variant / f"seed{seed}" / f"{name}.json"
        f.parent.mkdir(parents=True, exist_ok=True)
        write_json(f, {"variant": variant, "seed": seed, **payload})
        return f
    files = [write("trained", 0, "core", {"explained_variance": 0.8, "l0": 4.0}),
             write("frozen_decoder-iso", 1, "probing", {"top_1": 0.7, "top_5": None}),
             write("frozen_decoder-iso", 1, "lm_loss", {"ce_loss_recovered": 0.5, "kl_div_score": 0.6})]
    scores = read_scores(files).set_index(["role", "metric"]).value
    assert scores["sae", "explained_variance"] == 0.8 and scores["sae", "l0"] == 4.0
    assert scores["frozen_decoder-iso", "sparse_probing_top1"] == 0.7
    assert np.isnan(scores["frozen_decoder-iso", "sparse_probing_top5"])
    assert scores["frozen_decoder-iso", "kl_div_score"] == 0.6


def test_the_verdict_groups_records_by_the_check_named_in_them(tmp_path):
    """By each record's identity (the check's name its SAE's cfg.json holds), not by its path: two checks'
    files lie in folders whose names say nothing, and a record without the name is refused."""
    from saesanity.cli import main
    metrics, references = [], []
    for name, sae_ev in (("good", 0.9), ("bad", 0.3)):
        for variant, seed, ev in (("trained", 0, sae_ev), ("frozen_decoder-iso", 0, 0.5),
                                  ("frozen_decoder-iso", 1, 0.6)):
            f = tmp_path / "m" / str(len(metrics)) / "core.json"
            f.parent.mkdir(parents=True)
            write_json(f, {"sanity": name, "variant": variant, "seed": seed, "explained_variance": ev, "l0": 4.0})
            metrics.append(str(f))
        ref = tmp_path / f"{len(references)}.json"
        write_json(ref, {"name": name, "format": "saelens", "arch": "topk", "d_sae": 64, "heldout_l0": 4.0,
                         "source": "toy-h"})
        references.append(str(ref))
    main(["sanity-verdict", "--references", *references, "--metrics", *metrics, "--out", str(tmp_path / "out")])
    for name, verdict in (("good", BEATS), ("bad", BELOW)):
        table = pd.read_csv(tmp_path / "out" / name / "verdict.csv").set_index("metric")
        assert table.loc["explained_variance", "verdict"] == verdict
    unnamed = tmp_path / "unnamed" / "core.json"
    unnamed.parent.mkdir()
    write_json(unnamed, {"variant": "trained", "seed": 0, "explained_variance": 0.9, "l0": 4.0})
    with pytest.raises(NoCheckName, match="names no sanity check"):
        metrics_by_check([*metrics, str(unnamed)])


# --- the pipeline: config checks before any job, and an end-to-end run -------------------------------------

SANITY_EXAMPLES = {"sanity": {
    "saes": [{"name": "sl_jumprelu", "example": {"format": "saelens", "arch": "jumprelu"}},
             {"name": "sp_topk", "example": {"format": "sparsify", "arch": "topk", "seed": 1}},
             {"name": "dl_batchtopk", "example": {"format": "dictionary_learning", "arch": "batchtopk"}}],
    "baselines": ["frozen_decoder-iso"], "seeds": [0, 1]}}


def with_sanity(root: Path, block: dict) -> list[str]:
    (root / "sanity.yaml").write_text(yaml.safe_dump(block))
    return [*TINY, "sanity.yaml"]


def dry_run_error(root: Path, block: dict) -> str:
    proc = snakemake(root, "-n", "results/sanity", *with_sanity(root, block), check=False)
    assert proc.returncode != 0, proc.stdout[-2000:]
    return proc.stdout + proc.stderr


@pytest.mark.workflow
def test_the_trained_control_and_until_converged_climb_the_budget_ladder_and_need_a_curve(bare_workflow):
    def train_lines(block: dict) -> tuple[list[str], list[str]]:
        """The sanity_train commands of the trained controls and of the rest (baselines, untrained controls)."""
        out = snakemake(bare_workflow, "-n", "-p", "results/sanity", *with_sanity(bare_workflow, block)).stdout
        lines = [line for line in out.splitlines() if "--target-l0-from" in line]
        return [x for x in lines if "/trained_control/" in x], [x for x in lines if "/trained_control/" not in x]
    # The trained control climbs the ladder by default (sanity.trained_control: 3), the baselines do not.
    trained, rest = train_lines(SANITY_EXAMPLES)
    assert len(trained) == 3 and all("--until-converged 3 --out" in x for x in trained)
    assert rest and not any("--until-converged" in x for x in rest)
    # until_converged 5: the baselines climb too, and the trained control as far as they may.
    block = {"sanity": {**SANITY_EXAMPLES["sanity"], "until_converged": 5}}
    trained, rest = train_lines(block)
    assert all("--until-converged 5 --out" in x for x in trained + rest)
    trained, _ = train_lines({"sanity": {**SANITY_EXAMPLES["sanity"], "trained_control": 0}})
    assert not trained
    no_curve = {**block, "saes": {"lm": {"train": {"curve_points": 0}}}}
    assert "sanity.until_converged reads held-out training curves: set saes.lm.train.curve_points > 0" in \
        dry_run_error(bare_workflow, no_curve)


def saved_saelens_sae(folder: Path, d_in: int, **change) -> Path:
    """A TopK SAE written by SAELens itself (its own save_model), optionally tampered with afterwards."""
    from sae_lens import TopKSAE, TopKSAEConfig
    sae = TopKSAE(TopKSAEConfig(d_in=d_in, d_sae=64, k=4, dtype="float32", device="cpu"))
    with torch.no_grad():
        for p in sae.parameters():
            p.normal_()
    sae.save_model(str(folder))
    if change.get("nan"):
        from safetensors.torch import load_file, save_file
        tensors = load_file(str(folder / "sae_weights.safetensors"))
        tensors["W_dec"][3, 0] = float("nan")
        save_file(tensors, str(folder / "sae_weights.safetensors"))
    return folder


@pytest.fixture(scope="module")
def bare_workflow(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("sanity_checks"))


def tiny_d_model() -> int:
    return yaml.safe_load((Path(__file__).parents[1] / "presets/tiny.yaml").read_text())["toyworld"]["model"]["d_model"]


@pytest.mark.workflow
def test_a_folder_in_no_format_is_refused_before_any_job(bare_workflow, tmp_path):
    (tmp_path / "notes.txt").write_text("not an SAE")
    out = dry_run_error(bare_workflow, {"sanity": {"saes": [{"name": "mine", "path": str(tmp_path)}]}})
    assert "sanity SAE 'mine'" in out and str(tmp_path) in out and "saelens" in out.lower()


@pytest.mark.workflow
def test_a_width_that_does_not_match_the_hook_is_refused(bare_workflow, tmp_path):
    folder = saved_saelens_sae(tmp_path / "wide", tiny_d_model() + 1)
    out = dry_run_error(bare_workflow, {"sanity": {"saes": [{"name": "wide", "path": str(folder)}]}})
    assert "'wide'" in out and f"d_in {tiny_d_model() + 1}" in out


@pytest.mark.workflow
def test_nan_weights_are_refused(bare_workflow, tmp_path):
    folder = saved_saelens_sae(tmp_path / "nan", tiny_d_model(), nan=True)
    out = dry_run_error(bare_workflow, {"sanity": {"saes": [{"name": "nan", "path": str(folder)}]}})
    assert "sanity SAE 'nan'" in out and str(folder) in out and "W_dec" in out and "NaN" in out


@pytest.mark.workflow
def test_an_architecture_we_cannot_match_is_refused(bare_workflow, tmp_path):
    folder = tmp_path / "gated"
    folder.mkdir()
    (folder / "ae.pt").write_bytes(b"")
    (folder / "config.json").write_text(json.dumps({"trainer": {
        "dict_class": "GatedAutoEncoder", "activation_dim": tiny_d_model(), "dict_size": 64}}))
    out = dry_run_error(bare_workflow, {"sanity": {"saes": [{"name": "gated", "path": str(folder)}]}})
    assert "sanity SAE 'gated'" in out and str(folder) in out and "GatedAutoEncoder" in out


@pytest.mark.workflow
def test_sanity_check_end_to_end_by_path_and_by_example(tiny_run, tmp_path):
    """The imported SAEs reproduce the pipeline's own SAEs they were written from (same held-out EV and L0,
    to the bytes of core.json's numbers), and each gets a verdict against its matched baselines. Two checks: one
    SAE by path (SAELens, JumpReLU, its own budget) and one example (sparsify, TopK, seed 1); every format's
    reader and writer is tested on files the libraries wrote (test_external.py)."""
    root = Path(shutil.copytree(tiny_run, tmp_path / "run", symlinks=True))  # copy2 keeps the mtimes
    from saesanity.external.write import write_saelens
    from saesanity.sae.io import load_sae
    source = next((root / "results/saes").glob("toyworld-*")).name
    hook = source.split("-", 1)[1]
    # One SAE given by path, as a user would: the tiny run's JumpReLU seed 0, written by SAELens.
    mine = root / "my_sae"
    write_saelens(load_sae(root / f"results/saes/{source}/jumprelu/trained/seed0"), mine, model="toyworld", hook=hook)
    block = json.loads(json.dumps(SANITY_EXAMPLES))
    block["sanity"]["saes"] = [s for s in block["sanity"]["saes"] if s["name"] == "sp_topk"]
    # Its budget stated: its baselines train on 6,144 tokens (the tiny preset's saes.lm: 12,288).
    block["sanity"]["saes"].append({"name": "mine", "path": str(mine), "train_tokens": 6144})
    snakemake(root, "results/sanity", *with_sanity(root, block))
    n_docs = yaml.safe_load((root / "presets/tiny.yaml").read_text())["lm"]["eval"]["n_docs"]
    for name, (arch, seed) in {"sp_topk": ("topk", 1), "mine": ("jumprelu", 0)}.items():
        table = pd.read_csv(root / f"results/sanity/{name}/verdict.csv").set_index("metric")
        assert {"explained_variance", "ce_loss_recovered", "sparse_probing_top1", "ravel", "autointerp",
                "l0"} <= set(table.index)
        # RAVEL gives no score on the tiny model (it answers none of the prompts): "not measured".
        assert table.loc["ravel", "verdict"] == NOT_MEASURED
        assert set(table.drop(["l0", "ravel"]).verdict) <= {BEATS, WITHIN, BELOW}
        assert (root / f"results/sanity/{name}/verdict.md").read_text().startswith(f"SAE `{name}`")
        ours = json.loads((root / f"results/metrics/{source}/{arch}/trained/seed{seed}/core.json").read_text())
        imported = json.loads(
            (root / f"results/metrics/{source}/{arch}-sanity_{name}/trained/seed0/core.json").read_text())
        assert imported["explained_variance"] == pytest.approx(ours["explained_variance"], abs=1e-5)
        assert imported["l0"] == pytest.approx(ours["l0"], abs=1e-3)
        baseline = json.loads(
            (root / f"results/metrics/{source}/{arch}-sanity_{name}/frozen_decoder-iso/seed1/core.json").read_text())
        assert baseline["target_l0"] == pytest.approx(imported["l0"] if arch != "topk" else 4)
        tokens = 6144 if name == "mine" else 12288
        assert baseline["tokens_seen"] == tokens
        # The negative control: the same architecture, width and L0, untrained, and below on EV.
        control = json.loads(
            (root / f"results/metrics/{source}/{arch}-sanity_{name}/untrained/seed0/core.json").read_text())
        assert control["tokens_seen"] == 0 and control["d_sae"] == imported["d_sae"]
        assert control["l0"] == pytest.approx(imported["l0"], rel=0.2)
        assert table.loc["explained_variance", "negative_control_verdict"] == BELOW
        # CE loss and KL resampled over the held-out documents, paired: the same ones for every SAE.
        assert (table.loc[["ce_loss_recovered", "kl_div_score"], "n_items"] == n_docs).all()
        assert table.loc["ce_loss_recovered", "margin_low"] < table.loc["ce_loss_recovered", "margin"]
        assert table.loc["explained_variance", "power"] == HAS_POWER
        # The positive control: the toy world's concepts as latents, built (no step) at the SAE's width; the
        # concept check must rank it above the untrained control.
        positive = json.loads(
            (root / f"results/metrics/{source}/{arch}-sanity_{name}/concept_dictionary/seed0/core.json").read_text())
        assert positive["tokens_seen"] == 0 and positive["d_sae"] == imported["d_sae"]
        assert positive["n_concept_latents"] > 0
        assert table.loc["concepts_detected", "positive_control"] > table.loc["concepts_detected", "negative_control"]
        assert set(table.drop(["l0", "ravel"]).power) <= {HAS_POWER, NO_POWER}
        # The trained control: the same shape trained from the baselines' budget up the ladder (sanity.trained_control
        # 3: at most 8x), judged like the SAE; with power from it only where it converged and beats.
        trained = json.loads(
            (root / f"results/metrics/{source}/{arch}-sanity_{name}/trained_control/seed0/core.json").read_text())
        assert trained["d_sae"] == imported["d_sae"] and trained["converged"] is not None
        assert tokens <= trained["tokens_seen"] <= 8 * tokens
        assert table.loc["explained_variance", "trained_control_verdict"] in {BEATS, WITHIN, BELOW}
        gets_power = trained["converged"] and table.loc["explained_variance", "trained_control_verdict"] == BEATS
        assert ("trained" in table.loc["explained_variance", "power_from"]) == gets_power
        assert "Trained control: the pipeline's own SAE" in (root / f"results/sanity/{name}/verdict.md").read_text()
        assert f"The baselines trained on {tokens:,} tokens each" in \
            (root / f"results/sanity/{name}/verdict.md").read_text()
        assert baseline["curve_points"] > 0 and baseline["converged"] is not None  # where it stopped
    # A rerun has nothing to do.
    assert "Nothing to be done" in snakemake(root, "-n", "results/sanity", *with_sanity(root, block)).stdout
