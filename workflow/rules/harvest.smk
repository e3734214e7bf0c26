rule harvest:
    """A language model's activations at one hook: the training store and the held-out store (BOS excluded)."""
    input:
        model=lm_model_input(),
        corpus=targets.toyworld_corpus(config),
    output:
        train=directory(paths.lm_store("{model}", "{hook}", "activations")),
        heldout=directory(paths.lm_store("{model}", "{hook}", "heldout")),
    params:
        spec=lambda w: specs.harvest_spec(config, w.model, w.hook),
    threads: config["threads"]
    log:
        paths.log_file("harvest", "{model}/{hook}"),
    benchmark:
        paths.benchmark_file("harvest", "{model}/{hook}")
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} harvest --spec {params.spec:q} --out {output.train}"
        " --heldout-out {output.heldout} 2> {log}"
