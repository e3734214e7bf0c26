rule probing_prep:
    """Sparse probing, once per model and hook: every task's documents and their token activations."""
    input:
        model=lm_model_input(),
        corpus=[f"{pipeline.TOYWORLD_DIR}/corpus"] if pipeline.is_toyworld(config) else [],
    output:
        directory("results/evals/probing/{model}/{hook}"),
    params:
        spec=lambda w: pipeline.probing_prep_spec(config, w.model, w.hook),
    threads: config["threads"]
    log:
        "results/logs/probing_prep/{model}/{hook}.log",
    benchmark:
        "results/benchmarks/probing_prep/{model}/{hook}.tsv"
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity --threads {threads} probing-prep --spec {params.spec:q} --out {output} 2> {log}"


rule eval_probing:
    """Sparse probing of one SAE: top-k latents of mean-pooled latents, L2 logistic regression (SAEBench)."""
    input:
        sae=sae_files("{source}/{arch}/{variant}/seed{seed}"),
        prep=lambda w: pipeline.probing_dir(*pipeline.split_lm_source(w.source)),
    output:
        "results/metrics/{source}/{arch}/{variant}/seed{seed}/probing.json",
    params:
        sae=lambda w, input: os.path.dirname(input.sae[0]),
        spec=pipeline.probing_eval_spec(config),
    threads: config["threads"]
    log:
        "results/logs/eval_probing/{source}/{arch}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/eval_probing/{source}/{arch}/{variant}/seed{seed}.tsv"
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity --threads {threads} eval-probing --sae {params.sae} --prep {input.prep}"
        " --spec {params.spec:q} --out {output} 2> {log}"
