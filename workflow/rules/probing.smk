rule probing_prep:
    """Sparse probing, once per model and hook: every task's documents and their token activations."""
    input:
        model=lm_model_input(),
        corpus=targets.toyworld_corpus(config),
        datasets=specs.probing_inputs(config),
    output:
        directory(paths.probing_dir("{model}", "{hook}")),
    params:
        spec=lambda w: specs.probing_prep_spec(config, w.model, w.hook),
    threads: config["threads"]
    log:
        paths.log_file("probing_prep", "{model}/{hook}"),
    benchmark:
        paths.benchmark_file("probing_prep", "{model}/{hook}")
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} probing-prep --spec {params.spec:q} --out {output} 2> {log}"


rule eval_probing:
    """Sparse probing of one SAE: top-k latents of mean-pooled latents, L2 logistic regression (SAEBench)."""
    input:
        sae=sae_input(),
        prep=lambda w: paths.probing_dir(*paths.split_lm_source(w.source)),
    output:
        paths.metrics_file(paths.SAE_KEY, "probing"),
    params:
        sae=sae_folder,
        spec=specs.probing_eval_spec(config),
    threads: config["threads"]
    log:
        paths.log_file("eval_probing", paths.SAE_KEY),
    benchmark:
        paths.benchmark_file("eval_probing", paths.SAE_KEY)
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} eval-probing --sae {params.sae} --prep {input.prep}"
        " --spec {params.spec:q} --out {output} 2> {log}"
