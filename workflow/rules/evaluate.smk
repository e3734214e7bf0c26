rule eval_core:
    """EV (Eq. 5, around the mean), L0 and dead fraction on held-out data."""
    input:
        sae=sae_input(),
        data=lambda w: paths.activation_store(w.source, "heldout"),
    output:
        paths.metrics_file(paths.SAE_KEY, "core"),
    params:
        sae=sae_folder,
        l0_match=lambda w: specs.l0_match_spec(config, w.source, w.arch, w.variant),
    threads: config["threads"]
    log:
        paths.log_file("eval_core", paths.SAE_KEY),
    benchmark:
        paths.benchmark_file("eval_core", paths.SAE_KEY)
    resources:
        mem_mb=3000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} eval-core --sae {params.sae} --data {input.data}"
        " --l0-match {params.l0_match:q} --out {output} 2> {log}"


rule eval_recovery:
    """Recovery of the known features (Eq. 6) and ground-truth MCC; synthetic sources only."""
    input:
        sae=sae_input(),
        features=lambda w: paths.features_file(paths.synthetic_dist(w.source)),
    output:
        paths.metrics_file(paths.SAE_KEY, "recovery"),
    params:
        sae=sae_folder,
        threshold=config["recovery_threshold"],
    log:
        paths.log_file("eval_recovery", paths.SAE_KEY),
    benchmark:
        paths.benchmark_file("eval_recovery", paths.SAE_KEY)
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity eval-recovery --sae {params.sae} --features {input.features}"
        " --threshold {params.threshold} --out {output} 2> {log}"


rule lm_loss_prep:
    """eval_lm_loss's zero-ablation run and the activations at the hook, once per model and hook."""
    input:
        data=lambda w: paths.activation_store(f"{w.model}-{w.hook}", "heldout"),
        model=lm_model_input(),
    output:
        directory(paths.lm_loss_prep_dir("{model}", "{hook}")),
    params:
        spec=lambda w: specs.lm_loss_spec(config, f"{w.model}-{w.hook}"),
    threads: config["threads"]
    log:
        paths.log_file("lm_loss_prep", "{model}/{hook}"),
    benchmark:
        paths.benchmark_file("lm_loss_prep", "{model}/{hook}")
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} lm-loss-prep --spec {params.spec:q} --data {input.data}"
        " --out {output} 2> {log}"


rule eval_lm_loss:
    """CE-loss recovered and KL score with the SAE spliced in at its hook (zero ablation as the reference)."""
    input:
        sae=sae_input(),
        data=lambda w: paths.activation_store(w.source, "heldout"),
        model=lm_model_input(),
        reference=lambda w: paths.lm_loss_prep_dir(*paths.split_lm_source(w.source)),
    output:
        paths.metrics_file(paths.SAE_KEY, "lm_loss"),
    params:
        sae=sae_folder,
        spec=lambda w: specs.lm_loss_spec(config, w.source),
    threads: config["threads"]
    log:
        paths.log_file("eval_lm_loss", paths.SAE_KEY),
    benchmark:
        paths.benchmark_file("eval_lm_loss", paths.SAE_KEY)
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} eval-lm-loss --sae {params.sae} --spec {params.spec:q}"
        " --data {input.data} --reference {input.reference} --out {output} 2> {log}"
