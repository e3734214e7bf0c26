rule toyworld_corpus:
    """Documents with known labels and concept tags, attribute prompts, entities (saesanity/data/toyworld.yaml)."""
    output:
        directory(f"{pipeline.TOYWORLD_DIR}/corpus"),
    params:
        spec=pipeline.toyworld_spec(config),
    log:
        "results/logs/toyworld/corpus.log",
    benchmark:
        "results/benchmarks/toyworld/corpus.tsv"
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity toyworld --spec {params.spec:q} --out {output} 2> {log}"


rule tokenizer:
    """Word-level tokenizer trained on the training documents, saved in Hugging Face form."""
    input:
        rules.toyworld_corpus.output,
    output:
        directory(f"{pipeline.TOYWORLD_DIR}/tokenizer"),
    log:
        "results/logs/toyworld/tokenizer.log",
    benchmark:
        "results/benchmarks/toyworld/tokenizer.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity tokenizer --corpus {input} --out {output} 2> {log}"


rule train_lm:
    """The toy-world language model (transformer_lens), with held-out loss and attribute-prompt accuracy."""
    input:
        corpus=rules.toyworld_corpus.output,
        tokenizer=rules.tokenizer.output,
    output:
        model=directory(pipeline.toy_model_dir(config)),
        metrics=f"results/metrics/{config['lm']['name']}/lm.json",
    params:
        spec=pipeline.train_lm_spec(config),
    threads: config["threads"]
    log:
        "results/logs/train_lm.log",
    benchmark:
        "results/benchmarks/train_lm.tsv"
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity --threads {threads} train-lm --spec {params.spec:q} --corpus {input.corpus}"
        " --tokenizer {input.tokenizer} --out {output.model} --metrics {output.metrics} 2> {log}"
