def train_data(w):
    if w.source.startswith(pipeline.SYNTHETIC_PREFIX):
        return f"results/synthetic/{w.source.removeprefix(pipeline.SYNTHETIC_PREFIX)}/activations"
    raise ValueError(f"no activation store for source {w.source!r}")


rule train:
    """One SAE of one architecture, variant and seed, in the SAELens layout."""
    input:
        data=train_data,
    output:
        multiext("results/saes/{source}/{arch}/{variant}/seed{seed}/", "cfg.json", "sae_weights.safetensors"),
        train_log="results/saes/{source}/{arch}/{variant}/seed{seed}/train_log.csv",
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
        "{SAESANITY} train --spec {params.spec:q} --data {input.data} --source {wildcards.source}"
        " --out {params.out} --threads {threads} 2> {log}"
