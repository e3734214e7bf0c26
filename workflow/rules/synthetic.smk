rule synthetic:
    """Ground-truth features and activation shards (arXiv 2602.14111, sec. 3)."""
    output:
        features="results/synthetic/{dist}/features.parquet",
        train=directory("results/synthetic/{dist}/activations"),
        heldout=directory("results/synthetic/{dist}/heldout"),
    params:
        spec=lambda w: pipeline.synthetic_spec(config, w.dist),
    log:
        "results/logs/synthetic/{dist}.log",
    benchmark:
        "results/benchmarks/synthetic/{dist}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity synthetic --spec {params.spec:q} --out results/synthetic/{wildcards.dist} 2> {log}"
