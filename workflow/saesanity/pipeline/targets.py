"""The file lists of the rules that gather many jobs (the tables) and of the default target `all`, built from
the job enumeration (jobs.py) and the path templates (paths.py)."""

from __future__ import annotations

from saesanity.pipeline.jobs import (TOYWORLD, consistency_keys, convergence_runs, is_toyvit, is_toyworld,
                                     lm_headline_keys, lm_sae_keys, lm_sources, regimes_keys,
                                     synthetic_sae_keys, synthetic_sources, sweep_keys, table2_evals, vision_sae_keys,
                                     vision_sources, width_keys)
from saesanity.pipeline.paths import (FIGURES, RAVEL_CITIES, SANITY_DIR, SANITY_REFERENCE, TOYWORLD_CORPUS, TOYWORLD_TOKENIZER,
                                      activation_store, convergence_metrics_file, features_file, files_in, group_key,
                                      TRAIN_CURVE, metrics_file, sae_file, sae_files, sweep_metrics_file, sweep_sae_dir,
                                      synthetic_dist, synthetic_store, table_file)
from saesanity.pipeline.sanity import sanity_saes


def _group_metrics(config: dict, sources: list[str], name: str) -> list[str]:
    """<name>.json of every (architecture, variant) of `sources` with two or more seeds."""
    return [metrics_file(group_key(src, arch, variant), name)
            for src in sources for arch, variant in consistency_keys(config, src)]


def synthetic_table_inputs(config: dict) -> dict[str, list[str]]:
    keys = synthetic_sae_keys(config)
    return {"core": [metrics_file(k.path, "core") for k in keys],
            "recovery": [metrics_file(k.path, "recovery") for k in keys],
            "consistency": _group_metrics(config, synthetic_sources(config), "consistency"),
            "features": [features_file(d) for d in config["synthetic"]["distributions"]]}


def validation_table_inputs(config: dict) -> list[str]:
    """validation.json of each architecture's trained synthetic seeds (two or more), then each sweep group's."""
    group = config["saes"]["synthetic"]
    checkpoints = [metrics_file(group_key(src, arch, "trained"), "validation")
                   for src in synthetic_sources(config) for arch in group["architectures"]
                   if len(group["seeds"]) >= 2]
    return checkpoints + sorted({sweep_metrics_file(k["dist"], k["d_sae"], k["arch"]) for k in sweep_keys(config)})


def lm_table_inputs(config: dict) -> dict[str, list[str]]:
    keys = lm_headline_keys(config)
    return {"core": [metrics_file(k.path, "core") for k in keys],
            "lm_loss": [metrics_file(k.path, "lm_loss") for k in keys],
            "consistency": _group_metrics(config, lm_sources(config), "consistency"),
            "lm_metrics": [metrics_file(config["lm"]["name"], "lm")] if is_toyworld(config) else []}


def train_curve_inputs(config: dict) -> list[str]:
    """train_curve.csv of every headline language-model SAE (the lazy-training figure's curves)."""
    return [sae_file(k.path, TRAIN_CURVE) for k in lm_headline_keys(config)]


def table2_inputs(config: dict) -> list[str]:
    """<evaluation>.json of every language-model SAE per evaluation of table2.csv that the build runs for this
    model (jobs.table2_evals), in the registry's order; RAVEL's only for the seeds of evals.ravel.seeds."""
    ravel_seeds = config["evals"].get("ravel", {}).get("seeds")
    def scored(name: str, seed: int) -> bool:
        return name != "ravel" or ravel_seeds is None or seed in ravel_seeds
    return [metrics_file(k.path, name) for name in table2_evals(config) for k in lm_sae_keys(config)
            if scored(name, k.seed)]


def concepts_reference_files(config: dict) -> list[str]:
    """concepts_reference.json of every source where the concept check runs (jobs.table2_evals)."""
    if "concepts" not in table2_evals(config):
        return []
    return [metrics_file(src, "concepts_reference") for src in lm_sources(config)]


def convergence_table_inputs(config: dict) -> list[str]:
    return [convergence_metrics_file(r.path) for r in convergence_runs(config)]


def figure_inputs(config: dict) -> list[str]:
    """The tables the figures are drawn from; the convergence study's only where the config has one."""
    names = ["synthetic", "synthetic_features", "validation", "validation_correlation", "lm_core", "lm_model",
             "table2", "train_curves"] + (["convergence"] if convergence_runs(config) else [])
    return [table_file(name) for name in names]


def sanity_evals(config: dict) -> list[str]:
    """The per-SAE evaluations a verdict compares: core, the language-model loss, and every Table 2
    evaluation configured for this model."""
    return table2_evals(config)


def sanity_inputs(config: dict) -> dict[str, list[str]]:
    """Each imported SAE's reference.json, and the metrics of it and its baselines (sanity_verdicts)."""
    saes = sanity_saes(config)
    return {"references": [sae_file(s.key(config).path, SANITY_REFERENCE) for s in saes],
            "metrics": [metrics_file(k.path, e) for s in saes for k in s.keys(config) for e in sanity_evals(config)]}


def studies_inputs(config: dict) -> dict[str, list[str]]:
    """What results/studies is drawn from: every family member's core.json, the stitching of each member with
    the one below it, the meta-SAE of each variant's largest member, and the four regimes' probes."""
    families = [width_keys(config, src, v) for src in lm_sources(config) for v in config["studies"]["variants"]]
    return {"core": [metrics_file(k.path, "core") for family in families for k in family],
            "stitching": [metrics_file(k.path, "stitching") for family in families for k in family[1:]],
            "meta": [metrics_file(family[-1].path, "meta_sae") for family in families],
            "regimes_baselines": [metrics_file(src, "regimes_baselines") for src in lm_sources(config)],
            "regimes": [metrics_file(k.path, "regimes") for k in regimes_keys(config)]}


def truth_input(source: str, variants) -> list[str]:
    """The true dictionary a training job needs: features.parquet when it trains a ceiling (init 'truth')."""
    return [features_file(synthetic_dist(source))] if any(v.endswith("-truth") for v in variants) else []


def toyworld_corpus(config: dict) -> list[str]:
    """The toy-world corpus as a job's input where the language model is the toy world's, else none."""
    return [TOYWORLD_CORPUS] if is_toyworld(config) else []


def ravel_corpus(config: dict) -> list[str]:
    """What an eval_ravel job reads its prompts from where the pipeline builds it: the toy-world corpus, or
    the GeoNames cities (rule ravel_cities); none for RAVEL's own files."""
    data = config["evals"]["ravel"]["data"]
    return {TOYWORLD: [TOYWORLD_CORPUS], "cities": [RAVEL_CITIES]}.get(data, [])


def all_targets(config: dict) -> list[str]:
    """The default target: every output, not only the figures. Snakemake 9 rebuilds a deleted file only when
    a target asks for it, so a missing intermediate under present, newer outputs would be left alone
    (docs/reproducibility.md: what reruns when)."""
    tables = [synthetic_table_inputs(config), lm_table_inputs(config)]
    return [
        FIGURES,
        *(f for inputs in tables for files in inputs.values() for f in files),
        *table2_inputs(config),
        *validation_table_inputs(config),
        *(f for k in sweep_keys(config) for f in files_in(sweep_sae_dir(k["dist"], k["d_sae"], k["arch"], k["seed"]))),
        *(synthetic_store(d, split) for d in config["synthetic"]["distributions"]
          for split in ("activations", "heldout")),
        *(f for k in synthetic_sae_keys(config) + lm_sae_keys(config) for f in sae_files(k.path)),
        *(activation_store(src, split) for src in lm_sources(config) for split in ("activations", "heldout")),
        *([TOYWORLD_TOKENIZER] if is_toyworld(config) else []),
        *concepts_reference_files(config),
        *([table_file("convergence")] if convergence_runs(config) else []),
        *([SANITY_DIR] if sanity_saes(config) else []),
    ]


def vision_report_inputs(config: dict) -> dict[str, list[str]]:
    """What the opt-in target results/vision reads: core.json and vision.json of every vision SAE, the toy
    ViT's metrics and the concept check's reference dictionaries (toy world only)."""
    keys = vision_sae_keys(config)
    toy = is_toyvit(config)
    return {"core": [metrics_file(k.path, "core") for k in keys],
            "vision": [metrics_file(k.path, "vision") for k in keys],
            "model": [metrics_file(config["vision"]["name"], "vit")] if toy else [],
            "reference": [metrics_file(src, "vision_concepts_reference") for src in vision_sources(config)] if toy else []}
