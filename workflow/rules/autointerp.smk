rule eval_autointerp:
    """Detection scoring (Paulo et al., arXiv 2410.13928): explanations from top training contexts, judged on
    held-out contexts; on the toy world also the ground-truth concept check (concepts.json), from the same
    held-out encoding."""
    input:
        sae=sae_input(),
        train=lambda w: paths.activation_store(w.source, "activations"),
        heldout=lambda w: paths.activation_store(w.source, "heldout"),
        corpus=rules.toyworld_corpus.output if jobs.is_toyworld(config) else [],
    output:
        **{name: paths.metrics_file(paths.SAE_KEY, name) for name in jobs.autointerp_files(config)},
    params:
        sae=sae_folder,
        spec=specs.autointerp_spec(config),
        text=lambda w, input: specs.autointerp_text_args(config, input.corpus),
        device=config["lm"]["device"],
        concepts=lambda w, output: (
            f"--concepts-out {output.concepts}" if "concepts" in output.keys() else ""
        ),
    threads: config["threads"]
    log:
        paths.log_file("eval_autointerp", paths.SAE_KEY),
    benchmark:
        paths.benchmark_file("eval_autointerp", paths.SAE_KEY)
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} eval-autointerp --sae {params.sae} --train {input.train}"
        " --heldout {input.heldout} --spec {params.spec:q} {params.text} --out {output.autointerp} {params.concepts}"
        " --device {params.device} 2> {log}"


rule concepts_reference:
    """Can the concept check tell dictionaries apart? Its score for an ideal dictionary (one linear
    discriminant per known concept) and for a random one at the SAEs' firing budget; toy world only."""
    input:
        train=lambda w: paths.activation_store(w.source, "activations"),
        heldout=lambda w: paths.activation_store(w.source, "heldout"),
        corpus=paths.TOYWORLD_CORPUS,
    output:
        paths.metrics_file("{source}", "concepts_reference"),
    params:
        spec=specs.concepts_reference_spec(config),
    threads: config["threads"]
    log:
        paths.log_file("concepts_reference", "{source}"),
    benchmark:
        paths.benchmark_file("concepts_reference", "{source}")
    resources:
        mem_mb=6000,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} concepts-reference --train {input.train} --heldout {input.heldout}"
        " --documents {input.corpus}/documents.parquet --spec {params.spec:q} --source {wildcards.source}"
        " --out {output} 2> {log}"
