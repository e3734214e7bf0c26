rule toyworld_corpus:
    """Documents with known labels and concept tags, attribute prompts, entities (saesanity/data/toyworld.yaml)."""
    output:
        directory(paths.TOYWORLD_CORPUS),
    params:
        spec=specs.toyworld_spec(config),
    log:
        paths.log_file("toyworld", "corpus"),
    benchmark:
        paths.benchmark_file("toyworld", "corpus")
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity toyworld --spec {params.spec:q} --out {output} 2> {log}"


rule tokenizer:
    """Word-level tokenizer trained on the training documents, saved in Hugging Face form."""
    input:
        rules.toyworld_corpus.output,
    output:
        directory(paths.TOYWORLD_TOKENIZER),
    log:
        paths.log_file("toyworld", "tokenizer"),
    benchmark:
        paths.benchmark_file("toyworld", "tokenizer")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity tokenizer --corpus {input} --out {output} 2> {log}"


rule train_lm:
    """The toy-world language model (transformer_lens), with held-out loss and attribute-prompt accuracy."""
    input:
        corpus=rules.toyworld_corpus.output,
        tokenizer=rules.tokenizer.output,
    output:
        model=directory(specs.toy_model_dir(config)),
        metrics=paths.metrics_file(config["lm"]["name"], "lm"),
    params:
        spec=specs.train_lm_spec(config),
    threads: config["threads"]
    log:
        paths.log_file("train_lm"),
    benchmark:
        paths.benchmark_file("train_lm")
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} train-lm --spec {params.spec:q} --corpus {input.corpus}"
        " --tokenizer {input.tokenizer} --out {output.model} --metrics {output.metrics} 2> {log}"
