rule train:
    """One SAE of one architecture, variant and seed, in the SAELens layout."""
    input:
        data=lambda w: pipeline.activation_store(w.source, "activations"),
    output:
        multiext("results/saes/{source}/{arch}/{variant}/seed{seed}/", "cfg.json", "sae_weights.safetensors"),
        train_log="results/saes/{source}/{arch}/{variant}/seed{seed}/train_log.csv",
        checkpoints=directory("results/saes/{source}/{arch}/{variant}/seed{seed}/checkpoints"),
    params:
        spec=lambda w: pipeline.train_spec(config, w.source, w.arch, w.variant, w.seed),
        out=lambda w, output: os.path.dirname(output.train_log),
    threads: config["threads"]
    log:
        "results/logs/train/{source}/{arch}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{source}/{arch}/{variant}/seed{seed}.tsv"
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity --threads {threads} train --spec {params.spec:q} --data {input.data}"
        " --source {wildcards.source} --out {params.out} 2> {log}"
