rule consistency:
    """PW-MCC over all seeds of one architecture and variant (arXiv 2505.20254), shared-latent fraction
    (arXiv 2501.16615) and matched cosines; any source (synthetic or <model>-<hook>)."""
    input:
        lambda w: [
            paths.sae_file(paths.sae_key(w.source, w.arch, w.variant, s), paths.WEIGHTS)
            for s in jobs.variant_seeds(config, w.source, w.variant)
        ],
    output:
        paths.metrics_file(paths.SAE_GROUP, "consistency"),
    params:
        saes=lambda w, input: [os.path.dirname(f) for f in input],
        spec=specs.canonical(config["consistency"]),
    log:
        paths.log_file("consistency", paths.SAE_GROUP),
    benchmark:
        paths.benchmark_file("consistency", paths.SAE_GROUP)
    threads: config["threads"]
    resources:
        # The exact matching at 16,384 latents peaks at 4.6 GB, the sparse one of two 131k x 2304
        # dictionaries at 7.1 GB (benchmarks/mcc_scale.py).
        mem_mb=8000,
        runtime=60,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} consistency --saes {params.saes} --spec {params.spec:q}"
        " --out {output} 2> {log}"
