# The synthetic convergence study (config `convergence`; presets/synthetic-convergence.yaml): recovery and
# EV along training, per architecture and probability model, with one factor of the recipe varied at a time.


rule convergence_train:
    """One run of the study: an SAE with evenly spaced checkpoints, in the SAELens layout."""
    input:
        data="results/synthetic/{dist}/activations",
    output:
        multiext("results/convergence/saes/{dist}/{arch}/{run}/", "cfg.json", "sae_weights.safetensors"),
        train_log="results/convergence/saes/{dist}/{arch}/{run}/train_log.csv",
        checkpoints=directory("results/convergence/saes/{dist}/{arch}/{run}/checkpoints"),
    params:
        spec=lambda w: pipeline.convergence_train_spec(config, w.dist, w.arch, w.run),
        out=lambda w, output: os.path.dirname(output.train_log),
    threads: config["threads"]
    log:
        "results/logs/convergence_train/{dist}/{arch}/{run}.log",
    benchmark:
        "results/benchmarks/convergence_train/{dist}/{arch}/{run}.tsv"
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
        sae="results/convergence/saes/{dist}/{arch}/{run}/sae_weights.safetensors",
        checkpoints="results/convergence/saes/{dist}/{arch}/{run}/checkpoints",
        heldout="results/synthetic/{dist}/heldout",
        features="results/synthetic/{dist}/features.parquet",
    output:
        "results/convergence/metrics/{dist}/{arch}/{run}.json",
    params:
        sae=lambda w, input: os.path.dirname(input.sae),
        threshold=config["recovery_threshold"],
    threads: config["threads"]
    log:
        "results/logs/convergence_eval/{dist}/{arch}/{run}.log",
    benchmark:
        "results/benchmarks/convergence_eval/{dist}/{arch}/{run}.tsv"
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
        [f"results/convergence/metrics/{r.path}.json" for r in pipeline.convergence_runs(config)],
    output:
        report(
            "results/tables/convergence.csv",
            caption="../report/table_convergence.rst",
            category="Tables",
            labels={"table": "convergence"},
        ),
    log:
        "results/logs/tables/convergence.log",
    benchmark:
        "results/benchmarks/tables/convergence.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity table-convergence --runs {input} --out {output} 2> {log}"
