# PW-MCC against ground-truth MCC (arXiv 2505.20254): does consistency across seeds track ground truth?
# Points: every checkpoint (and the final SAE) of the trained synthetic SAEs, and a sweep of dictionary
# sizes on small data sets with known features (the model organism of arXiv 2505.20254 by default).


rule train_sweep:
    """One SAE of the dictionary-size sweep (trained variant), in the SAELens layout, with checkpoints."""
    input:
        data="results/synthetic/{dist}/activations",
    output:
        multiext("results/validation/saes/{dist}/d{d_sae}/{arch}/seed{seed}/", "cfg.json", "sae_weights.safetensors"),
        train_log="results/validation/saes/{dist}/d{d_sae}/{arch}/seed{seed}/train_log.csv",
        checkpoints=directory("results/validation/saes/{dist}/d{d_sae}/{arch}/seed{seed}/checkpoints"),
    params:
        spec=lambda w: pipeline.sweep_train_spec(config, w.dist, w.d_sae, w.arch, w.seed),
        out=lambda w, output: os.path.dirname(output.train_log),
    threads: config["threads"]
    log:
        "results/logs/train_sweep/{dist}/d{d_sae}/{arch}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_sweep/{dist}/d{d_sae}/{arch}/seed{seed}.tsv"
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity --threads {threads} train --spec {params.spec:q} --data {input.data}"
        " --source synthetic-{wildcards.dist} --out {params.out} 2> {log}"


rule validation_synthetic:
    """GT-MCC per seed and PW-MCC at every checkpoint of the trained SAEs of one architecture."""
    input:
        unpack(
            lambda w: validation_inputs(
                [
                    f"results/saes/{w.source}/{w.arch}/trained/seed{s}"
                    for s in pipeline.variant_seeds(config, w.source, "trained")
                ],
                w.source.removeprefix(pipeline.SYNTHETIC_PREFIX),
            )
        ),
    output:
        "results/metrics/{source}/{arch}/trained/validation.json",
    params:
        experiment="checkpoints",
        saes=lambda w, input: [os.path.dirname(f) for f in input.saes],
        spec=pipeline.canonical(config["consistency"]),
    log:
        "results/logs/validation/{source}/{arch}.log",
    benchmark:
        "results/benchmarks/validation/{source}/{arch}.tsv"
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity validation --saes {params.saes} --features {input.features}"
        " --spec {params.spec:q} --experiment {params.experiment} --out {output} 2> {log}"


rule validation_sweep:
    """GT-MCC per seed and PW-MCC at every checkpoint of one sweep group (data set, size, architecture)."""
    input:
        unpack(
            lambda w: validation_inputs(
                [
                    f"{pipeline.sweep_dir(w.dist, w.d_sae, w.arch)}/seed{s}"
                    for s in config["validation"]["sweep"]["seeds"]
                ],
                w.dist,
            )
        ),
    output:
        "results/validation/metrics/{dist}/d{d_sae}/{arch}.json",
    params:
        experiment="sizes",
        saes=lambda w, input: [os.path.dirname(f) for f in input.saes],
        spec=pipeline.canonical(config["consistency"]),
    log:
        "results/logs/validation_sweep/{dist}/d{d_sae}/{arch}.log",
    benchmark:
        "results/benchmarks/validation_sweep/{dist}/d{d_sae}/{arch}.tsv"
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity validation --saes {params.saes} --features {input.features}"
        " --spec {params.spec:q} --experiment {params.experiment} --out {output} 2> {log}"


rule table_validation:
    """One row per point (group and training stage): GT-MCC and PW-MCC; and their correlation."""
    input:
        [
            f"results/metrics/{src}/{arch}/trained/validation.json"
            for src in pipeline.synthetic_sources(config)
            for arch in config["saes"]["synthetic"]["architectures"]
            if len(config["saes"]["synthetic"]["seeds"]) >= 2
        ]
        + sorted(
            {
                f"results/validation/metrics/{k['dist']}/d{k['d_sae']}/{k['arch']}.json"
                for k in pipeline.sweep_keys(config)
            }
        ),
    output:
        report(
            "results/tables/validation.csv",
            caption="../report/table_validation.rst",
            category="Tables",
            labels={"table": "validation"},
        ),
        report(
            "results/tables/validation_correlation.csv",
            caption="../report/table_validation_correlation.rst",
            category="Tables",
            labels={"table": "validation_correlation"},
        ),
    log:
        "results/logs/tables/validation.log",
    benchmark:
        "results/benchmarks/tables/validation.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity table-validation --points {input} --out-dir results/tables 2> {log}"
