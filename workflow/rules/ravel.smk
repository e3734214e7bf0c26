rule eval_ravel:
    """RAVEL-style causal editing (MDBM masks over the SAE's latents; cause, isolation, score)."""
    input:
        sae=sae_input(),
        model=lm_model_input(),
        corpus=targets.ravel_corpus(config),
    output:
        paths.metrics_file(paths.SAE_KEY, "ravel"),
    params:
        sae=sae_folder,
        spec=lambda w: specs.ravel_spec(config, w.source),
        corpus=lambda w, input: f"--corpus {input.corpus}" if input.corpus and config["evals"]["ravel"]["data"] == "toyworld" else "",
    threads: config["threads"]
    log:
        paths.log_file("eval_ravel", paths.SAE_KEY),
    benchmark:
        paths.benchmark_file("eval_ravel", paths.SAE_KEY)
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} eval-ravel --sae {params.sae} --spec {params.spec:q}"
        " {params.corpus} --out {output} 2> {log}"
