rule synthetic:
    """Ground-truth features and activation shards (arXiv 2602.14111, sec. 3)."""
    output:
        features=paths.features_file("{dist}"),
        train=directory(paths.synthetic_store("{dist}", "activations")),
        heldout=directory(paths.synthetic_store("{dist}", "heldout")),
    params:
        spec=lambda w: specs.synthetic_spec(config, w.dist),
        out=lambda w, output: os.path.dirname(output.features),
    log:
        paths.log_file("synthetic", "{dist}"),
    benchmark:
        paths.benchmark_file("synthetic", "{dist}")
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity synthetic --spec {params.spec:q} --out {params.out} 2> {log}"
