"""table2.csv (arXiv 2602.14111 Table 2 on our SAEs) from planted metric files, its figures, and the keys
and paths of an L0 sweep."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from saesanity.pipeline import checks, jobs, paths, specs
from saesanity.atomic import write_json
from saesanity.cli import main
from saesanity.figures import table2_l0_sweep, table2_metrics
from saesanity.figures.style import save
from saesanity.tables.table2 import COLUMNS, METRICS, MetricsFileError, by_evaluation, table2, write_table2
from saesanity.evals.registry import TRAINING

SOURCE = "toyworld-blocks.1.hook_resid_pre"
ARCHS = ["batchtopk", "jumprelu", "relu"]
BASELINES = ["frozen_decoder-iso", "frozen_decoder-cov", "soft_frozen_decoder-iso", "frozen_encoder-iso",
             "frozen_encoder-cov"]
EVALS = ("core", "lm_loss", "probing", "ravel", "autointerp", "concepts")


def planted(arch: str, variant: str, seed: int, target_l0: int) -> dict[str, dict]:
    """Every evaluation's JSON for one SAE, with values that encode who it is: trained 0.8 + 0.01 * seed,
    baseline i 0.5 + 0.02 * i, + 0.001 * target_l0, offset per metric."""
    base = (0.8 + 0.01 * seed if variant == "trained" else 0.5 + 0.02 * BASELINES.index(variant)) + 0.001 * target_l0
    ident = {"source": SOURCE, "arch": arch, "variant": variant, "seed": seed, "d_sae": 256,
             "target_l0": target_l0, "init_seed": seed}
    return {
        "core": {**ident, "explained_variance": base, "l0": target_l0 + 0.5 * seed, "dead_fraction": 0.0},
        "lm_loss": {**ident, "ce_loss_recovered": base + 0.1, "kl_div_score": base + 0.09, "ce_clean": 3.0},
        "probing": {**ident, "top_1": base - 0.1, "top_2": base - 0.05, "top_5": base, "dense": 0.95, "n_tasks": 3,
                    "top_1_task_mean": base - 0.11, "top_5_task_mean": base - 0.01, "tasks": []},
        "ravel": {**ident, "score": base - 0.2, "cause": base, "isolation": base, "pairs": []},
        "autointerp": {**ident, "score": base + 0.05, "n_scored": 100, "n_live": 200, "frac_above_0.7": 0.5,
                       "backend": "ground_truth", "latents": []},
        "concepts": {**ident, "fraction_detected": base - 0.3, "threshold": 0.8, "n_concepts": 40, "concepts": [],
                     "fraction_detected_by_kind": {"tag": base - 0.2, "value": base - 0.4, "token": base - 0.3}},
    }


def write_planted(root: Path, l0s=(16,), trained_seeds=(0, 1, 2)) -> dict[str, list[str]]:
    """Metric files of a whole LM group (3 archs x (trained seeds + 5 baselines)) per target L0, laid out
    as results/metrics/<key.path>/<eval>.json, L0-sweep points in their <arch>-l0_<L0> folders."""
    files: dict[str, list[str]] = {name: [] for name in EVALS}
    for l0 in l0s:
        for arch in ARCHS:
            sweep = None if l0 == l0s[0] else l0
            keys = [jobs.SAEKey(SOURCE, arch, "trained", s, sweep) for s in trained_seeds]
            keys += [jobs.SAEKey(SOURCE, arch, v, 0, sweep) for v in BASELINES]
            for k in keys:
                for name, metrics in planted(arch, k.variant, k.seed, l0).items():
                    path = root / k.path / f"{name}.json"
                    write_json(path, metrics)
                    files[name].append(str(path))
    return files


def means(table: pd.DataFrame) -> pd.DataFrame:
    return table[table.seed == "mean"].set_index(["arch", "variant", "target_l0", "metric"])


def test_seed_means_spread_and_the_papers_numbers(tmp_path):
    table = table2(write_planted(tmp_path), headline_l0=16)
    m = means(table)
    ev = m.loc[("batchtopk", "trained", 16, "explained_variance")]
    assert ev.value == pytest.approx(0.826) and ev["std"] == pytest.approx(0.01) and ev.n_seeds == 3
    assert ev.paper_value == 0.852 and "Table 2" in ev.paper_note
    top5 = m.loc[("batchtopk", "frozen_encoder-cov", 16, "sparse_probing_top5")]
    assert top5.value == pytest.approx(0.596) and np.isnan(top5["std"]) and top5.n_seeds == 1
    assert top5.paper_value == 0.682
    assert m.loc[("batchtopk", "frozen_decoder-iso", 16, "sparse_probing_top1"), "paper_value"] == 0.669
    assert m.loc[("jumprelu", "soft_frozen_decoder-iso", 16, "ravel"), "paper_value"] == 0.739
    # AutoInterp: 0.90 trained vs 0.88 Soft-Frozen BatchTopK; nothing the paper does not report.
    assert m.loc[("batchtopk", "trained", 16, "autointerp"), "paper_value"] == 0.90
    assert m.loc[("batchtopk", "soft_frozen_decoder-iso", 16, "autointerp"), "paper_value"] == 0.88
    assert np.isnan(m.loc[("jumprelu", "trained", 16, "autointerp"), "paper_value"])
    for metric in ("concepts_detected", "l0", "ce_loss_recovered", "kl_div_score"):
        assert m.xs(metric, level="metric").paper_value.isna().all()
    assert m.xs("relu", level="arch").paper_value.isna().all()
    # Per-SAE rows carry their own value and no paper number.
    one = table[(table.seed == "2") & (table.arch == "relu") & (table.metric == "concepts_detected")]
    assert len(one) == 1 and one.value.iloc[0] == pytest.approx(0.536) and one.paper_value.isna().all()
    assert set(table.metric) == set(METRICS) == {
        "explained_variance", "l0", "ce_loss_recovered", "kl_div_score", "sparse_probing_top1", "sparse_probing_top5", "sparse_probing_top1_task_mean",
        "sparse_probing_top5_task_mean", "ravel", "autointerp", "concepts_detected", "concepts_detected_tag",
        "concepts_detected_value", "concepts_detected_token", *TRAINING}
    # Planted files hold no training record: null there (an imported SAE has none either).
    assert table[table.metric.isin(TRAINING)].value.isna().all()
    assert not table.saturated.any()
    assert len(table) == len(METRICS) * len(ARCHS) * ((3 + 5) + (1 + 5))  # per SAE, and a mean per arch x variant


def test_an_evaluation_without_files_gives_no_rows(tmp_path):
    files = write_planted(tmp_path)
    table = table2({**files, "concepts": [], "autointerp": []}, headline_l0=16)
    assert not {"concepts_detected", "autointerp"} & set(table.metric)
    only_core = table2({"core": files["core"]})
    assert set(only_core.metric) == {"explained_variance", "l0", *TRAINING} and only_core.headline.all()


def test_a_missing_key_names_the_file_and_the_key(tmp_path):
    files = write_planted(tmp_path)
    bad = files["probing"][4]
    metrics = pd.read_json(bad, typ="series").to_dict()
    del metrics["top_5"]
    write_json(bad, metrics)
    with pytest.raises(MetricsFileError, match=r"probing\.json: no key 'top_5'") as err:
        table2(files)
    assert bad in str(err.value)
    args = ["table2", "--metrics", *files["core"], *files["probing"], "--out", str(tmp_path / "t.csv")]
    with pytest.raises(SystemExit, match="top_5"):
        main(args)
    assert not (tmp_path / "t.csv").exists()
    # A file that is no evaluation's output is refused by name.
    stray = tmp_path / "notes.json"
    write_json(stray, {})
    with pytest.raises(SystemExit, match=r"notes\.json: not the output of an evaluation"):
        main(["table2", "--metrics", *files["core"], str(stray), "--out", str(tmp_path / "t.csv")])


def test_an_l0_sweep_gives_rows_per_l0_and_the_paper_only_at_the_headline(tmp_path):
    files = write_planted(tmp_path, l0s=(16, 8, 32))
    out = tmp_path / "table2.csv"
    write_table2(files, out, headline_l0=16)
    table = pd.read_csv(out)
    m = means(table)
    for l0 in (8, 16, 32):
        assert m.loc[("batchtopk", "trained", l0, "explained_variance"), "value"] == pytest.approx(0.81 + 0.001 * l0)
        assert m.loc[("relu", "trained", l0, "l0"), "value"] == pytest.approx(l0 + 0.5)
    paper = m[m.paper_value.notna()]
    assert set(paper.index.get_level_values("target_l0")) == {16}
    assert set(table[table.headline].target_l0) == {16}
    # The rerun gives the same bytes.
    before = out.read_bytes()
    write_table2(files, out, headline_l0=16)
    assert out.read_bytes() == before


def test_figures_one_panel_per_metric_and_the_sweep_only_with_a_sweep(tmp_path):
    for name, l0s in (("headline", (16,)), ("sweep", (16, 8, 32))):
        tables = tmp_path / name
        write_table2(write_planted(tmp_path / f"{name}-metrics", l0s=l0s), tables / "table2.csv", headline_l0=16)
        fig = table2_metrics.plot(tables)
        titled = [ax for ax in fig.axes if ax.get_title()]
        assert len(titled) == len(table2_metrics.METRIC_LABEL) == 10  # one panel per headline metric
        save(fig, tables / "table2")
        assert (tables / "table2.png").stat().st_size > 0 and (tables / "table2.pdf").stat().st_size > 0
        sweep = table2_l0_sweep.plot(tables)
        if name == "headline":
            assert sweep is None
        else:
            assert len(sweep.axes) == len(table2_metrics.METRIC_LABEL) * len(ARCHS)  # metric x architecture
            assert sorted(sweep.axes[0].lines[0].get_xdata()) == [8, 16, 32]
            save(sweep, tables / "table2_l0_sweep")
            assert (tables / "table2_l0_sweep.png").stat().st_size > 0


def test_a_saturated_metric_is_marked_on_its_panel(tmp_path):
    """EV planted at the ceiling for every variant of one architecture: table2.csv marks it, the panel says so."""
    files = write_planted(tmp_path / "metrics")
    for f in files["core"]:
        m = json.loads(Path(f).read_text())
        if m["arch"] == "relu":
            write_json(f, {**m, "explained_variance": 0.995})
    write_table2(files, tmp_path / "tables" / "table2.csv", headline_l0=16)
    table = pd.read_csv(tmp_path / "tables" / "table2.csv")
    ev = table[table.metric == "explained_variance"]
    assert ev[ev.arch == "relu"].saturated.all() and not ev[ev.arch != "relu"].saturated.any()
    assert not table[table.metric != "explained_variance"].saturated.any()
    fig = table2_metrics.plot(tmp_path / "tables")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(t.startswith("saturated: cannot discriminate") and "relu" in t for t in texts)


def lm_config(**lm_group) -> dict:
    """The slice of a validated config that the LM SAE keys and train specs read."""
    group = {"d_sae": 256, "target_l0": 16, "architectures": ["topk", "jumprelu"], "seeds": [0, 1],
             "baselines": ["soft_frozen_decoder-iso"], "baseline_seeds": [0], "train": {"n_samples": 4096},
             **lm_group}
    return {"saes": {"lm": group}, "lm": {"name": "toyworld", "kind": "toyworld", "hooks": ["blocks.1.hook_resid_pre"]},
            "toyworld": {"model": {"d_model": 32}}, "arch": {"topk": {"dead_after": 100}}, "soft_frozen_tau": 0.8}


def test_l0_sweep_keys_carry_the_l0_in_the_arch_segment_and_headline_paths_stay():
    assert jobs.l0_sweep_keys(lm_config(), SOURCE) == []
    cfg = lm_config(l0_sweep=[8, 16, 32])
    headline = jobs.sae_keys(cfg, SOURCE)
    sweep = jobs.l0_sweep_keys(cfg, SOURCE)
    assert [k.path for k in headline][:2] == [f"{SOURCE}/topk/trained/seed0", f"{SOURCE}/topk/trained/seed1"]
    assert len(sweep) == 2 * len(headline)  # 8 and 32: the headline L0 16 is not trained twice
    assert f"{SOURCE}/topk-l0_8/trained/seed1" in {k.path for k in sweep}
    assert f"{SOURCE}/jumprelu-l0_32/soft_frozen_decoder-iso/seed0" in {k.path for k in sweep}
    assert paths.split_arch_dir("topk-l0_8") == ("topk", 8) and paths.split_arch_dir("topk") == ("topk", None)
    # The train rule's spec from the path segment: the L0 changes, nothing else.
    spec = json.loads(specs.train_spec(cfg, SOURCE, "topk-l0_8", "trained", 1))
    head = json.loads(specs.train_spec(cfg, SOURCE, "topk", "trained", 1))
    assert spec["sae"]["target_l0"] == 8 and spec["sae"]["arch"] == "topk" and head["sae"]["target_l0"] == 16
    assert {**spec["sae"], "target_l0": 16} == head["sae"]
    with pytest.raises(KeyError, match="not in its group's l0_sweep"):
        specs.train_spec(cfg, SOURCE, "topk-l0_64", "trained", 0)
    with pytest.raises(checks.PipelineConfigError, match=r"saes.lm.l0_sweep \(512\) exceeds d_sae"):
        checks._check_sae_group(lm_config(l0_sweep=[8, 512]), "lm")


def test_table2_reads_only_configured_evaluations():
    cfg = lm_config()
    assert jobs.table2_evals(cfg) == ["core", "lm_loss"]
    assert jobs.table2_evals({**cfg, "evals": {"probing": {}, "ravel": {}, "autointerp": {}}}) == list(EVALS)
    hf = {**cfg, "lm": {**cfg["lm"], "kind": "hf"}, "evals": {"probing": {}, "autointerp": {}}}
    assert jobs.table2_evals(hf) == ["core", "lm_loss", "probing", "autointerp"]
    # No judge (backend none): detection scoring is not measured and has no rows.
    offline = {**hf, "evals": {"probing": {}, "autointerp": {"backend": "none"}}}
    assert jobs.table2_evals(offline) == ["core", "lm_loss", "probing"]
    # The files the rule gathers are the ones the table reads, grouped by their evaluation in the registry's order.
    assert list(COLUMNS) == list(EVALS)
    files = [paths.metrics_file(f"s/{i}", name) for name in reversed(EVALS) for i in (0, 1)]
    assert list(by_evaluation(files)) == list(EVALS)


def test_the_registry_names_each_metric_once_and_labels_what_is_judged():
    """One registry serves table2.csv, the figure, the saturation mark and the verdict: a metric's name is its
    row everywhere, so two metrics may not share one, and a judged metric needs a label (its verdict row) and a
    maximum (the ceiling the verdict checks)."""
    from saesanity.evals import registry
    from saesanity.sanity import verdict
    from saesanity.tables.saturation import METRIC_MAXIMUM
    names = [m.name for m in registry.METRICS]
    assert len(names) == len(set(names)) and METRICS == names
    assert all(m.label and m.maximum is not None for m in verdict.METRICS)
    assert [m.name for m in verdict.METRICS] == [n for n in names if n in METRIC_MAXIMUM and not n.endswith("mean")]
    assert list(table2_metrics.METRIC_LABEL)[-1] == "l0"  # the constraint the scores are read at, last
    assert {m.evaluation for m in registry.METRICS} == set(COLUMNS)
