rule ravel_prep:
    """RAVEL's prompts through the model, once per model and hook: activations at the hook, clean answers."""
    input:
        model=lm_model_input(),
        corpus=targets.ravel_corpus(config),
    output:
        directory(paths.ravel_prep_dir("{model}", "{hook}")),
    params:
        spec=lambda w: specs.ravel_spec(config, f"{w.model}-{w.hook}", prep=True),
        corpus=lambda w, input: f"--corpus {input.corpus}" if input.corpus and config["evals"]["ravel"]["data"] == "toyworld" else "",
    threads: config["threads"]
    log:
        paths.log_file("ravel_prep", "{model}/{hook}"),
    benchmark:
        paths.benchmark_file("ravel_prep", "{model}/{hook}")
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} ravel-prep --spec {params.spec:q} {params.corpus} --out {output}"
        " 2> {log}"


rule eval_ravel:
    """RAVEL-style causal editing (MDBM masks over the SAE's latents; cause, isolation, score)."""
    input:
        sae=sae_input(),
        model=lm_model_input(),
        corpus=targets.ravel_corpus(config),
        prep=lambda w: paths.ravel_prep_dir(*paths.split_lm_source(w.source)),
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
        mem_mb=3000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} eval-ravel --sae {params.sae} --spec {params.spec:q}"
        " {params.corpus} --prep {input.prep} --out {output} 2> {log}"
