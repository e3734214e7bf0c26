rule consistency:
    """PW-MCC over all seeds of one architecture and variant (arXiv 2505.20254)."""
    input:
        lambda w: [
            f"results/saes/{w.source}/{w.arch}/{w.variant}/seed{s}/sae_weights.safetensors"
            for s in pipeline.variant_seeds(config, w.source, w.variant)
        ],
    output:
        "results/metrics/{source}/{arch}/{variant}/consistency.json",
    params:
        saes=lambda w, input: [os.path.dirname(f) for f in input],
    log:
        "results/logs/consistency/{source}/{arch}/{variant}.log",
    benchmark:
        "results/benchmarks/consistency/{source}/{arch}/{variant}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity consistency --saes {params.saes} --out {output} 2> {log}"
