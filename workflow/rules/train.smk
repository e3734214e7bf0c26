rule train:
    """One SAE of one architecture, variant and seed, in the SAELens layout."""
    input:
        data=lambda w: pipeline.activation_store(w.source, "activations"),
        truth=lambda w: pipeline.truth_input(w.source, [w.variant]),
    output:
        multiext("results/saes/{source}/{arch}/{variant}/seed{seed}/", "cfg.json", "sae_weights.safetensors"),
        train_log="results/saes/{source}/{arch}/{variant}/seed{seed}/train_log.csv",
        checkpoints=directory("results/saes/{source}/{arch}/{variant}/seed{seed}/checkpoints"),
    wildcard_constraints:
        source=pipeline.per_sae_source_pattern(config),
    params:
        spec=lambda w: pipeline.train_spec(config, w.source, w.arch, w.variant, w.seed),
        out=lambda w, output: os.path.dirname(output.train_log),
        truth=lambda w, input: pipeline.truth_arg(input.truth),
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
        "python -m saesanity --threads {threads} train --spec {params.spec:q} --data {input.data} {params.truth}"
        " --source {wildcards.source} --out {params.out} 2> {log}"


# saes.<group>.one_pass: the SAEs of one seed (or one architecture and seed) trained by one job, in one pass
# over the data; the outputs are the same files, with the same bytes, as the `train` rule's.
for train_pass in pipeline.train_passes(config):

    rule:
        name:
            train_pass.name
        input:
            data=pipeline.activation_store(train_pass.source, "activations"),
            truth=pipeline.truth_input(train_pass.source, [k.variant for k in train_pass.keys]),
        output:
            [
                f"results/saes/{k.path}/{f}"
                for k in train_pass.keys
                for f in ("cfg.json", "sae_weights.safetensors", "train_log.csv")
            ],
            [directory(f"results/saes/{k.path}/checkpoints") for k in train_pass.keys],
        params:
            spec=pipeline.train_pass_spec(config, train_pass),
            out=[f"results/saes/{k.path}" for k in train_pass.keys],
            source=train_pass.source,
            truth=lambda w, input: pipeline.truth_arg(input.truth),
        threads: config["threads"]
        log:
            f"results/logs/train_pass/{train_pass.path}.log",
        benchmark:
            f"results/benchmarks/train_pass/{train_pass.path}.tsv"
        resources:
            mem_mb=4000,
            runtime=120 * len(train_pass.keys),
        conda:
            "../../envs/saesanity.yaml"
        shell:
            "python -m saesanity --threads {threads} train --spec {params.spec:q} --data {input.data} {params.truth}"
            " --source {params.source} --out {params.out} 2> {log}"
