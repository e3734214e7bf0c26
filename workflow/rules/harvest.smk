rule harvest:
    """A language model's activations at one hook: the training store and the held-out store (BOS excluded)."""
    input:
        model=lm_model_input(),
        corpus=[f"{pipeline.TOYWORLD_DIR}/corpus"] if pipeline.is_toyworld(config) else [],
    output:
        train=directory("results/activations/{model}/{hook}"),
        heldout=directory("results/activations/{model}/heldout/{hook}"),
    params:
        spec=lambda w: pipeline.harvest_spec(config, w.model, w.hook),
    threads: config["threads"]
    log:
        "results/logs/harvest/{model}/{hook}.log",
    benchmark:
        "results/benchmarks/harvest/{model}/{hook}.tsv"
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity --threads {threads} harvest --spec {params.spec:q} --out {output.train}"
        " --heldout-out {output.heldout} 2> {log}"
