rule eval_core:
    """EV (Eq. 5, around the mean), L0 and dead fraction on held-out data."""
    input:
        sae=sae_files("{source}/{arch}/{variant}/seed{seed}"),
        data=lambda w: pipeline.activation_store(w.source, "heldout"),
    output:
        "results/metrics/{source}/{arch}/{variant}/seed{seed}/core.json",
    params:
        sae=lambda w, input: os.path.dirname(input.sae[0]),
        l0_match=lambda w: pipeline.l0_match_spec(config, w.source, w.arch),
    threads: config["threads"]
    log:
        "results/logs/eval_core/{source}/{arch}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/eval_core/{source}/{arch}/{variant}/seed{seed}.tsv"
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity --threads {threads} eval-core --sae {params.sae} --data {input.data}"
        " --l0-match {params.l0_match:q} --out {output} 2> {log}"


rule eval_recovery:
    """Recovery of the known features (Eq. 6) and ground-truth MCC; synthetic sources only."""
    input:
        sae=sae_files("{source}/{arch}/{variant}/seed{seed}"),
        features=lambda w: f"{pipeline.synthetic_dir(w.source)}/features.parquet",
    output:
        "results/metrics/{source}/{arch}/{variant}/seed{seed}/recovery.json",
    params:
        sae=lambda w, input: os.path.dirname(input.sae[0]),
        threshold=config["recovery_threshold"],
    log:
        "results/logs/eval_recovery/{source}/{arch}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/eval_recovery/{source}/{arch}/{variant}/seed{seed}.tsv"
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity eval-recovery --sae {params.sae} --features {input.features}"
        " --threshold {params.threshold} --out {output} 2> {log}"


rule eval_lm_loss:
    """CE-loss recovered and KL score with the SAE spliced in at its hook (zero ablation as the reference)."""
    input:
        sae=sae_files("{source}/{arch}/{variant}/seed{seed}"),
        data=lambda w: pipeline.activation_store(w.source, "heldout"),
        model=lm_model_input(),
    output:
        "results/metrics/{source}/{arch}/{variant}/seed{seed}/lm_loss.json",
    params:
        sae=lambda w, input: os.path.dirname(input.sae[0]),
        spec=lambda w: pipeline.lm_loss_spec(config, w.source),
    threads: config["threads"]
    log:
        "results/logs/eval_lm_loss/{source}/{arch}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/eval_lm_loss/{source}/{arch}/{variant}/seed{seed}.tsv"
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/saesanity.yaml"
    shell:
        "python -m saesanity --threads {threads} eval-lm-loss --sae {params.sae} --spec {params.spec:q}"
        " --data {input.data} --out {output} 2> {log}"
