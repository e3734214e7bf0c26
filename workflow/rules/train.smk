rule train:
    """One SAE of one architecture, variant and seed, in the SAELens layout, with its training curve on the
    first rows of the held-out store (train_curve.csv; saesanity.train_curve)."""
    input:
        data=lambda w: paths.activation_store(w.source, "activations"),
        heldout=lambda w: paths.activation_store(w.source, "heldout"),
        truth=lambda w: targets.truth_input(w.source, [w.variant]),
    output:
        paths.sae_files(names=paths.SAE_LOADABLE),
        train_log=paths.sae_file(paths.SAE_KEY, paths.TRAIN_LOG),
        train_curve=paths.sae_file(paths.SAE_KEY, paths.TRAIN_CURVE),
        checkpoints=directory(paths.checkpoints_dir()),
    wildcard_constraints:
        source=jobs.per_sae_source_pattern(config),
    params:
        spec=lambda w: specs.train_spec(config, w.source, w.arch, w.variant, w.seed),
        out=lambda w, output: os.path.dirname(output.train_log),
        truth=lambda w, input: specs.truth_arg(input.truth),
    threads: config["threads"]
    log:
        paths.log_file("train", paths.SAE_KEY),
    benchmark:
        paths.benchmark_file("train", paths.SAE_KEY)
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} train --spec {params.spec:q} --data {input.data} {params.truth}"
        " --heldout {input.heldout} --source {wildcards.source} --out {params.out} 2> {log}"


# saes.<group>.one_pass: the SAEs of one seed (or one architecture and seed) trained by one job, in one pass
# over the data; the outputs are the same files, with the same bytes, as the `train` rule's.
for train_pass in jobs.train_passes(config):

    rule:
        name:
            train_pass.name
        input:
            data=paths.activation_store(train_pass.source, "activations"),
            heldout=paths.activation_store(train_pass.source, "heldout"),
            truth=targets.truth_input(train_pass.source, [k.variant for k in train_pass.keys]),
        output:
            [f for k in train_pass.keys for f in paths.sae_files(k.path)],
            [paths.sae_file(k.path, paths.TRAIN_CURVE) for k in train_pass.keys],
            [directory(paths.checkpoints_dir(k.path)) for k in train_pass.keys],
        params:
            spec=specs.train_pass_spec(config, train_pass),
            out=[paths.sae_dir(k.path) for k in train_pass.keys],
            source=train_pass.source,
            truth=lambda w, input: specs.truth_arg(input.truth),
        threads: config["threads"]
        log:
            paths.log_file("train_pass", train_pass.path),
        benchmark:
            paths.benchmark_file("train_pass", train_pass.path)
        resources:
            mem_mb=4000,
            runtime=120 * len(train_pass.keys),
        conda:
            CONDA_ENV
        shell:
            "python -m saesanity --threads {threads} train --spec {params.spec:q} --data {input.data} {params.truth}"
            " --heldout {input.heldout} --source {params.source} --out {params.out} 2> {log}"
