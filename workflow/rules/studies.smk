# The seeds' other studies (config `studies`, opt-in target results/studies): SAE stitching and meta-SAEs on a
# family of widths (arXiv 2502.04878), and sparse probing in four regimes (arXiv 2502.16681), with random
# baselines beside the trained SAE. The family's SAEs train through the `train` rule (`<arch>-w_<d_sae>`).


rule stitching:
    """SAE stitching of one family member with the member one width below: novel vs reconstruction latents,
    and the loss curve from the smaller SAE to the larger as latents are inserted and swapped."""
    input:
        sae=sae_input(),
        small=lambda w: paths.sae_files(
            jobs.smaller_width_key(config, w.source, w.arch, w.variant).path, paths.SAE_LOADABLE
        ),
        data=lambda w: paths.activation_store(w.source, "heldout"),
        model=lm_model_input(),
        corpus=targets.toyworld_corpus(config),
    output:
        paths.metrics_file(paths.SAE_KEY, "stitching"),
    params:
        large=sae_folder,
        small=lambda w, input: os.path.dirname(input.small[0]),
        spec=specs.stitching_spec(config),
        model=lambda w: specs.canonical(specs.lm_model_spec(config)),
        hook=lambda w: paths.split_lm_source(w.source)[1],
        documents=documents_arg,
    threads: config["threads"]
    log:
        paths.log_file("stitching", paths.SAE_KEY),
    benchmark:
        paths.benchmark_file("stitching", paths.SAE_KEY)
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} stitching --small {params.small} --large {params.large}"
        " --data {input.data} --spec {params.spec:q} --model-spec {params.model:q} --hook {params.hook}"
        " {params.documents} --out {output} 2> {log}"


rule meta_sae:
    """A meta-SAE (BatchTopK, k 4) trained on the unit decoder rows of one SAE: the variance it explains and
    the base latents each meta-latent groups; on the toy world, whether they share the world's attributes."""
    input:
        sae=sae_input(),
        # The attribute alignment reads held-out activations beside the toy world's concept tags; a real model
        # has no tags, so its meta-SAE reads the decoder alone.
        data=lambda w: [paths.activation_store(w.source, "heldout")] if jobs.is_toyworld(config) else [],
        corpus=targets.toyworld_corpus(config),
    output:
        paths.metrics_file(paths.SAE_KEY, "meta_sae"),
    params:
        sae=sae_folder,
        spec=specs.meta_sae_spec(config),
        alignment=lambda w, input: f"--data {input.data[0]} {documents_arg(w, input)}" if input.data else "",
    threads: config["threads"]
    log:
        paths.log_file("meta_sae", paths.SAE_KEY),
    benchmark:
        paths.benchmark_file("meta_sae", paths.SAE_KEY)
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} meta-sae --sae {params.sae} --spec {params.spec:q}"
        " {params.alignment} --out {output} 2> {log}"


rule regimes_prep:
    """Probing in four regimes, once per model and hook: every task's documents and their token activations."""
    input:
        model=lm_model_input(),
        corpus=targets.toyworld_corpus(config),
    output:
        directory(paths.regimes_dir("{model}", "{hook}")),
    params:
        spec=lambda w: specs.regimes_prep_spec(config, w.model, w.hook),
    threads: config["threads"]
    log:
        paths.log_file("regimes_prep", "{model}/{hook}"),
    benchmark:
        paths.benchmark_file("regimes_prep", "{model}/{hook}")
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} regimes-prep --spec {params.spec:q} --out {output} 2> {log}"


rule regimes_baselines:
    """The ordinary probes of the four regimes on mean-pooled activations (no SAE): once per model and hook."""
    input:
        prep=lambda w: paths.regimes_dir(*paths.split_lm_source(w.source)),
    output:
        paths.metrics_file("{source}", "regimes_baselines"),
    params:
        spec=specs.regimes_probe_spec(config),
    threads: config["threads"]
    log:
        paths.log_file("regimes_baselines", "{source}"),
    benchmark:
        paths.benchmark_file("regimes_baselines", "{source}")
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} regimes-probe --prep {input.prep} --spec {params.spec:q}"
        " --out {output} 2> {log}"


rule eval_regimes:
    """The SAE probes of the four regimes (top-k latents by class-mean difference) of one SAE."""
    input:
        sae=sae_input(),
        prep=lambda w: paths.regimes_dir(*paths.split_lm_source(w.source)),
    output:
        paths.metrics_file(paths.SAE_KEY, "regimes"),
    params:
        sae=sae_folder,
        spec=specs.regimes_probe_spec(config),
    threads: config["threads"]
    log:
        paths.log_file("eval_regimes", paths.SAE_KEY),
    benchmark:
        paths.benchmark_file("eval_regimes", paths.SAE_KEY)
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} regimes-probe --prep {input.prep} --sae {params.sae}"
        " --spec {params.spec:q} --out {output} 2> {log}"


rule studies:
    """results/studies/: the tables (widths, stitching, meta-SAEs, regimes, the quiver of arrows) and their
    figures."""
    input:
        **targets.studies_inputs(config),
    output:
        report(
            directory(paths.STUDIES_DIR),
            patterns=["{name}.png"],
            caption="../report/studies.rst",
            category="Studies: stitching, meta-SAEs, probing regimes",
            labels={"figure": "{name}"},
        ),
    log:
        paths.log_file("studies"),
    benchmark:
        paths.benchmark_file("studies")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity studies --core {input.core} --stitching {input.stitching} --meta {input.meta}"
        " --regimes-baselines {input.regimes_baselines} --regimes {input.regimes} --out {output} 2> {log}"
