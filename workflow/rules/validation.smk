# PW-MCC against ground-truth MCC (arXiv 2505.20254): does consistency across seeds track ground truth?
# Points: every checkpoint (and the final SAE) of the trained synthetic SAEs, and a sweep of dictionary
# sizes on small data sets with known features (the model organism of arXiv 2505.20254 by default).
SWEEP_SAE = paths.sweep_sae_dir("{dist}", "{d_sae}", "{arch}", "{seed}")
SWEEP_GROUP = paths.sweep_key("{dist}", "{d_sae}", "{arch}")


rule train_sweep:
    """One SAE of the dictionary-size sweep (trained variant), in the SAELens layout, with checkpoints."""
    input:
        data=paths.synthetic_store("{dist}", "activations"),
    output:
        paths.files_in(SWEEP_SAE, paths.SAE_LOADABLE),
        train_log=f"{SWEEP_SAE}/{paths.TRAIN_LOG}",
        checkpoints=directory(f"{SWEEP_SAE}/{paths.CHECKPOINTS}"),
    params:
        spec=lambda w: specs.sweep_train_spec(config, w.dist, w.d_sae, w.arch, w.seed),
        out=lambda w, output: os.path.dirname(output.train_log),
    threads: config["threads"]
    log:
        paths.log_file("train_sweep", f"{SWEEP_GROUP}/seed{{seed}}"),
    benchmark:
        paths.benchmark_file("train_sweep", f"{SWEEP_GROUP}/seed{{seed}}")
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} train --spec {params.spec:q} --data {input.data}"
        " --source synthetic-{wildcards.dist} --out {params.out} 2> {log}"


rule validation_synthetic:
    """GT-MCC per seed and PW-MCC at every checkpoint of the trained SAEs of one architecture."""
    input:
        unpack(
            lambda w: validation_inputs(
                [
                    paths.sae_dir(paths.sae_key(w.source, w.arch, "trained", s))
                    for s in jobs.variant_seeds(config, w.source, "trained")
                ],
                paths.synthetic_dist(w.source),
            )
        ),
    output:
        paths.metrics_file(paths.group_key("{source}", "{arch}", "trained"), "validation"),
    params:
        experiment="checkpoints",
        saes=lambda w, input: [os.path.dirname(f) for f in input.saes],
        spec=specs.canonical(config["consistency"]),
    log:
        paths.log_file("validation", "{source}/{arch}"),
    benchmark:
        paths.benchmark_file("validation", "{source}/{arch}")
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity validation --saes {params.saes} --features {input.features}"
        " --spec {params.spec:q} --experiment {params.experiment} --out {output} 2> {log}"


rule validation_sweep:
    """GT-MCC per seed and PW-MCC at every checkpoint of one sweep group (data set, size, architecture)."""
    input:
        unpack(
            lambda w: validation_inputs(
                [
                    paths.sweep_sae_dir(w.dist, w.d_sae, w.arch, s)
                    for s in config["validation"]["sweep"]["seeds"]
                ],
                w.dist,
            )
        ),
    output:
        paths.sweep_metrics_file("{dist}", "{d_sae}", "{arch}"),
    params:
        experiment="sizes",
        saes=lambda w, input: [os.path.dirname(f) for f in input.saes],
        spec=specs.canonical(config["consistency"]),
    log:
        paths.log_file("validation_sweep", SWEEP_GROUP),
    benchmark:
        paths.benchmark_file("validation_sweep", SWEEP_GROUP)
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity validation --saes {params.saes} --features {input.features}"
        " --spec {params.spec:q} --experiment {params.experiment} --out {output} 2> {log}"


rule table_validation:
    """One row per point (group and training stage): GT-MCC and PW-MCC; and their correlation."""
    input:
        targets.validation_table_inputs(config),
    output:
        points=report(
            paths.table_file("validation"),
            caption="../report/table_validation.rst",
            category="Tables",
            labels={"table": "validation"},
        ),
        correlation=report(
            paths.table_file("validation_correlation"),
            caption="../report/table_validation_correlation.rst",
            category="Tables",
            labels={"table": "validation_correlation"},
        ),
    log:
        paths.log_file("tables", "validation"),
    benchmark:
        paths.benchmark_file("tables", "validation")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity table-validation --points {input} --out {output.points}"
        " --correlation-out {output.correlation} 2> {log}"
