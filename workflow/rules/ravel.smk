rule eval_ravel:
    """RAVEL-style causal editing (MDBM masks over the SAE's latents; cause, isolation, score)."""
    input:
        sae=sae_files("{source}/{arch}/{variant}/seed{seed}"),
        model=lm_model_input(),
        corpus=pipeline.ravel_corpus(config),
    output:
        "results/metrics/{source}/{arch}/{variant}/seed{seed}/ravel.json",
    params:
        sae=lambda w, input: os.path.dirname(input.sae[0]),
        spec=lambda w: pipeline.ravel_spec(config, w.source),
        corpus=lambda w, input: f"--corpus {input.corpus}" if input.corpus else "",
    threads: config["threads"]
    log:
        "results/logs/eval_ravel/{source}/{arch}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/eval_ravel/{source}/{arch}/{variant}/seed{seed}.tsv"
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity --threads {threads} eval-ravel --sae {params.sae} --spec {params.spec:q}"
        " {params.corpus} --out {output} 2> {log}"
