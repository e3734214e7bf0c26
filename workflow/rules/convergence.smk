# The synthetic convergence study (config `convergence`; presets/synthetic-convergence.yaml): recovery and
# EV along training, per architecture and probability model, with one factor of the recipe varied at a time.


rule convergence_train:
    """One run of the study: an SAE with evenly spaced checkpoints, in the SAELens layout."""
    input:
        data=paths.synthetic_store("{dist}", "activations"),
    output:
        paths.files_in(paths.convergence_sae_dir(), paths.SAE_LOADABLE),
        train_log=f"{paths.convergence_sae_dir()}/{paths.TRAIN_LOG}",
        checkpoints=directory(f"{paths.convergence_sae_dir()}/{paths.CHECKPOINTS}"),
    params:
        spec=lambda w: specs.convergence_train_spec(config, w.dist, w.arch, w.run),
        out=lambda w, output: os.path.dirname(output.train_log),
    threads: config["threads"]
    log:
        paths.log_file("convergence_train", paths.CONVERGENCE_KEY),
    benchmark:
        paths.benchmark_file("convergence_train", paths.CONVERGENCE_KEY)
    resources:
        mem_mb=4000,
        runtime=600,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} train --spec {params.spec:q} --data {input.data}"
        " --source synthetic-{wildcards.dist} --out {params.out} 2> {log}"


rule convergence_eval:
    """Recovery (Eq. 6) and EV (Eq. 5) of one run at each checkpoint and at the end."""
    input:
        sae=f"{paths.convergence_sae_dir()}/{paths.WEIGHTS}",
        checkpoints=f"{paths.convergence_sae_dir()}/{paths.CHECKPOINTS}",
        heldout=paths.synthetic_store("{dist}", "heldout"),
        features=paths.features_file("{dist}"),
    output:
        paths.convergence_metrics_file(),
    params:
        sae=lambda w, input: os.path.dirname(input.sae),
        threshold=config["recovery_threshold"],
    threads: config["threads"]
    log:
        paths.log_file("convergence_eval", paths.CONVERGENCE_KEY),
    benchmark:
        paths.benchmark_file("convergence_eval", paths.CONVERGENCE_KEY)
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} convergence-eval --sae {params.sae} --data {input.heldout}"
        " --features {input.features} --threshold {params.threshold} --out {output} 2> {log}"


rule table_convergence:
    """One row per (run, checkpoint): samples seen, recovery and EV."""
    input:
        targets.convergence_table_inputs(config),
    output:
        report(
            paths.table_file("convergence"),
            caption="../report/table_convergence.rst",
            category="Tables",
            labels={"table": "convergence"},
        ),
    log:
        paths.log_file("tables", "convergence"),
    benchmark:
        paths.benchmark_file("tables", "convergence")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity table-convergence --runs {input} --out {output} 2> {log}"
