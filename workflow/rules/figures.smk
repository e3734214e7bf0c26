rule table_synthetic:
    """Tidy table of the synthetic experiment, the paper's numbers beside ours, and per-feature recovery."""
    input:
        **targets.synthetic_table_inputs(config),
    output:
        synthetic=report(
            paths.table_file("synthetic"),
            caption="../report/table_synthetic.rst",
            category="Tables",
            labels={"table": "synthetic"},
        ),
        features=report(
            paths.table_file("synthetic_features"),
            caption="../report/table_synthetic_features.rst",
            category="Tables",
            labels={"table": "synthetic_features"},
        ),
    log:
        paths.log_file("tables", "synthetic"),
    benchmark:
        paths.benchmark_file("tables", "synthetic")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity table-synthetic --core {input.core} --recovery {input.recovery}"
        " --consistency {input.consistency} --features {input.features}"
        " --out {output.synthetic} --features-out {output.features} 2> {log}"


rule table_lm:
    """Core metrics of the SAEs on the language model, the paper's Table 2 EV beside ours; the toy model's
    held-out loss and attribute accuracy."""
    input:
        **targets.lm_table_inputs(config),
    output:
        core=report(
            paths.table_file("lm_core"),
            caption="../report/table_lm_core.rst",
            category="Tables",
            labels={"table": "lm_core"},
        ),
        model=report(
            paths.table_file("lm_model"),
            caption="../report/table_lm_model.rst",
            category="Tables",
            labels={"table": "lm_model"},
        ),
    log:
        paths.log_file("tables", "lm"),
    benchmark:
        paths.benchmark_file("tables", "lm")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity table-lm --core {input.core} --lm-loss {input.lm_loss}"
        " --consistency {input.consistency} --lm-metrics {input.lm_metrics}"
        " --out {output.core} --model-out {output.model} 2> {log}"


rule table2:
    """arXiv 2602.14111 Table 2 on every language-model SAE (L0-sweep points included): EV, CE-loss recovered
    and KL score, sparse probing top-1 and top-5, RAVEL, AutoInterp, the ground-truth concept check and the L0 reached, per SAE and mean
    over seeds, the paper's numbers beside ours at the headline L0. An evaluation not configured for this
    model has no files and no rows (saesanity.pipeline.jobs.table2_evals)."""
    input:
        metrics=targets.table2_inputs(config),
        concepts_reference=targets.concepts_reference_files(config),
    output:
        report(
            paths.table_file("table2"),
            caption="../report/table2.rst",
            category="Tables",
            labels={"table": "table2"},
        ),
    params:
        headline_l0=config["saes"]["lm"]["target_l0"],
    log:
        paths.log_file("tables", "table2"),
    benchmark:
        paths.benchmark_file("tables", "table2")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity table2 --metrics {input.metrics}"
        " --concepts-reference {input.concepts_reference} --headline-l0 {params.headline_l0}"
        " --out {output} 2> {log}"


rule table_train_curves:
    """The training curves of the language-model SAEs (held-out EV and decoder-to-init cosine against
    tokens), tidy, for the lazy-training figure."""
    input:
        targets.train_curve_inputs(config),
    output:
        report(
            paths.table_file("train_curves"),
            caption="../report/table_train_curves.rst",
            category="Tables",
            labels={"table": "train_curves"},
        ),
    log:
        paths.log_file("tables", "train_curves"),
    benchmark:
        paths.benchmark_file("tables", "train_curves")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity table-train-curves --curves {input} --out {output} 2> {log}"


rule figures:
    """Every figure, as PNG and PDF."""
    input:
        rules.table_synthetic.output,
        rules.table_validation.output,
        rules.table_lm.output,
        rules.table2.output,
        rules.table_train_curves.output,
        rules.table_convergence.output if jobs.convergence_runs(config) else [],
    output:
        report(
            directory(paths.FIGURES),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
            labels={"figure": "{name}"},
        ),
    log:
        paths.log_file("figures"),
    benchmark:
        paths.benchmark_file("figures")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity figures --tables {input} --out {output} 2> {log}"
