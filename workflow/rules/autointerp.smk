rule eval_autointerp:
    """Detection scoring (Paulo et al., arXiv 2410.13928): explanations from top training contexts, judged on
    held-out contexts; on the toy world also the ground-truth concept check (concepts.json), from the same
    held-out encoding."""
    input:
        sae=sae_files("{source}/{arch}/{variant}/seed{seed}"),
        train=lambda w: pipeline.activation_store(w.source, "activations"),
        heldout=lambda w: pipeline.activation_store(w.source, "heldout"),
        corpus=rules.toyworld_corpus.output if pipeline.is_toyworld(config) else [],
    output:
        **{
            f.removesuffix(".json"): f"results/metrics/{{source}}/{{arch}}/{{variant}}/seed{{seed}}/{f}"
            for f in pipeline.autointerp_files(config)
        },
    params:
        sae=lambda w, input: os.path.dirname(input.sae[0]),
        spec=pipeline.autointerp_spec(config),
        text=lambda w, input: pipeline.autointerp_text_args(config, input.corpus),
        device=config["lm"]["device"],
        concepts=lambda w, output: (
            f"--concepts-out {output.concepts}" if "concepts" in output.keys() else ""
        ),
    threads: config["threads"]
    log:
        "results/logs/eval_autointerp/{source}/{arch}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/eval_autointerp/{source}/{arch}/{variant}/seed{seed}.tsv"
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity --threads {threads} eval-autointerp --sae {params.sae} --train {input.train}"
        " --heldout {input.heldout} --spec {params.spec:q} {params.text} --out {output.autointerp} {params.concepts}"
        " --device {params.device} 2> {log}"


rule concepts_reference:
    """Can the concept check tell dictionaries apart? Its score for an ideal dictionary (one mean-difference
    detector per known concept) and for a random one at the SAEs' firing budget; toy world only."""
    input:
        train=lambda w: pipeline.activation_store(f"{w.model}-{w.hook}", "activations"),
        heldout=lambda w: pipeline.activation_store(f"{w.model}-{w.hook}", "heldout"),
        corpus=rules.toyworld_corpus.output,
    output:
        "results/metrics/{model}-{hook}/concepts_reference.json",
    params:
        spec=lambda w: pipeline.concepts_reference_spec(config),
    threads: config["threads"]
    log:
        "results/logs/concepts_reference/{model}-{hook}.log",
    benchmark:
        "results/benchmarks/concepts_reference/{model}-{hook}.tsv"
    resources:
        mem_mb=6000,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} concepts-reference --train {input.train} --heldout {input.heldout}"
        " --documents {input.corpus}/documents.parquet --spec {params.spec:q} --source {wildcards.model}-{wildcards.hook}"
        " --out {output} 2> {log}"
