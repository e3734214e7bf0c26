rule consistency:
    """PW-MCC over all seeds of one architecture and variant (arXiv 2505.20254), shared-latent fraction
    (arXiv 2501.16615) and matched cosines; any source (synthetic or <model>-<hook>)."""
    input:
        lambda w: [
            f"results/saes/{w.source}/{w.arch}/{w.variant}/seed{s}/sae_weights.safetensors"
            for s in pipeline.variant_seeds(config, w.source, w.variant)
        ],
    output:
        "results/metrics/{source}/{arch}/{variant}/consistency.json",
    params:
        saes=lambda w, input: [os.path.dirname(f) for f in input],
        spec=pipeline.canonical(config["consistency"]),
    log:
        "results/logs/consistency/{source}/{arch}/{variant}.log",
    benchmark:
        "results/benchmarks/consistency/{source}/{arch}/{variant}.tsv"
    threads: config["threads"]
    resources:
        # The exact matching at 16,384 latents peaks at 4.6 GB, the sparse one of two 131k x 2304
        # dictionaries at 7.1 GB (benchmarks/mcc_scale.py).
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity --threads {threads} consistency --saes {params.saes} --spec {params.spec:q}"
        " --out {output} 2> {log}"
