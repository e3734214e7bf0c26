rule table_synthetic:
    """Tidy table of the synthetic experiment, the paper's numbers beside ours, and per-feature recovery."""
    input:
        core=[f"results/metrics/{k.path}/core.json" for k in synthetic_sae_keys()],
        recovery=[f"results/metrics/{k.path}/recovery.json" for k in synthetic_sae_keys()],
        consistency=[
            f"results/metrics/{src}/{arch}/{variant}/consistency.json"
            for src in pipeline.synthetic_sources(config)
            for arch, variant in pipeline.consistency_keys(config, src)
        ],
        features=[f"results/synthetic/{d}/features.parquet" for d in config["synthetic"]["distributions"]],
    output:
        report(
            "results/tables/synthetic.csv",
            caption="../report/table_synthetic.rst",
            category="Tables",
            labels={"table": "synthetic"},
        ),
        report(
            "results/tables/synthetic_features.csv",
            caption="../report/table_synthetic_features.rst",
            category="Tables",
            labels={"table": "synthetic_features"},
        ),
    log:
        "results/logs/tables/synthetic.log",
    benchmark:
        "results/benchmarks/tables/synthetic.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity table-synthetic --core {input.core} --recovery {input.recovery}"
        " --consistency {input.consistency} --features {input.features} --out-dir results/tables 2> {log}"


rule table_lm:
    """Core metrics of the SAEs on the language model, the paper's Table 2 EV beside ours; the toy model's
    held-out loss and attribute accuracy."""
    input:
        core=[f"results/metrics/{k.path}/core.json" for k in lm_headline_keys()],
        lm_loss=[f"results/metrics/{k.path}/lm_loss.json" for k in lm_headline_keys()],
        consistency=[
            f"results/metrics/{src}/{arch}/{variant}/consistency.json"
            for src in pipeline.lm_sources(config)
            for arch, variant in pipeline.consistency_keys(config, src)
        ],
        lm_metrics=rules.train_lm.output.metrics if pipeline.is_toyworld(config) else [],
    output:
        report(
            "results/tables/lm_core.csv",
            caption="../report/table_lm_core.rst",
            category="Tables",
            labels={"table": "lm_core"},
        ),
        report(
            "results/tables/lm_model.csv",
            caption="../report/table_lm_model.rst",
            category="Tables",
            labels={"table": "lm_model"},
        ),
    log:
        "results/logs/tables/lm.log",
    benchmark:
        "results/benchmarks/tables/lm.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity table-lm --core {input.core} --lm-loss {input.lm_loss}"
        " --consistency {input.consistency} --lm-metrics {input.lm_metrics} --out-dir results/tables 2> {log}"


rule table2:
    """arXiv 2602.14111 Table 2 on every language-model SAE (L0-sweep points included): EV, sparse probing
    top-1 and top-5, RAVEL, AutoInterp, the ground-truth concept check and the L0 reached, per SAE and mean
    over seeds, the paper's numbers beside ours at the headline L0. An evaluation not configured for this
    model has no files and no rows (pipeline.table2_evals)."""
    input:
        core=lm_metric_files("core"),
        probing=lm_metric_files("probing"),
        ravel=lm_metric_files("ravel"),
        autointerp=lm_metric_files("autointerp"),
        concepts=lm_metric_files("concepts"),
        concepts_reference=pipeline.concepts_reference_files(config),
    output:
        report(
            "results/tables/table2.csv",
            caption="../report/table2.rst",
            category="Tables",
            labels={"table": "table2"},
        ),
    params:
        headline_l0=config["saes"]["lm"]["target_l0"],
    log:
        "results/logs/tables/table2.log",
    benchmark:
        "results/benchmarks/tables/table2.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity table2 --core {input.core} --probing {input.probing} --ravel {input.ravel}"
        " --autointerp {input.autointerp} --concepts {input.concepts}"
        " --concepts-reference {input.concepts_reference} --headline-l0 {params.headline_l0}"
        " --out {output} 2> {log}"


rule figures:
    """Every figure, as PNG and PDF."""
    input:
        rules.table_synthetic.output,
        rules.table_validation.output,
        rules.table_lm.output,
        rules.table2.output,
        rules.table_convergence.output if pipeline.convergence_runs(config) else [],
    output:
        report(
            directory("results/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
            labels={"figure": "{name}"},
        ),
    log:
        "results/logs/figures.log",
    benchmark:
        "results/benchmarks/figures.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity figures --tables results/tables --out {output} 2> {log}"
