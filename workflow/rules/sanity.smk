# Does an SAE from elsewhere beat random baselines? (config `sanity`; presets/sanity-check.yaml). Each SAE is
# imported into results/saes/<source>/<arch>-sanity_<name>/trained/seed0, its baselines and its negative control
# (variant untrained) and trained control (variant trained_control) are made beside it at its width and held-out
# L0, on the toy world its concept control (variant concept_dictionary) at its width, and every per-SAE evaluation
# rule then serves them all unchanged.

ruleorder: sanity_import > sanity_concept_dictionary > sanity_train > train


rule sanity_example:
    """`sanity.saes[].example`: one of the pipeline's trained SAEs written by another library (SAELens and
    sparsify through their own save functions), the offline demonstration's "external" SAE."""
    input:
        lambda w: paths.sae_files(sanity.sanity_sae(config, w.name).example_source_key(config).path,
                                  paths.SAE_LOADABLE),
    output:
        directory(paths.external_example_dir("{name}")),
    params:
        sae=lambda w, input: os.path.dirname(input[0]),
        format=lambda w: sanity.sanity_sae(config, w.name).info.format,
        hook=lambda w: sanity.sanity_sae(config, w.name).hook,
        model=config["lm"]["name"],
    log:
        paths.log_file("sanity_example", "{name}"),
    benchmark:
        paths.benchmark_file("sanity_example", "{name}")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity sanity-example --sae {params.sae} --format {params.format} --model {params.model}"
        " --hook {params.hook} --out {output} 2> {log}"


rule sanity_import:
    """An SAE in its library's format, into our layout (weights exact), with its held-out L0 in reference.json."""
    input:
        external=lambda w: sanity.sanity_sae(config, w.name).info.folder,
        data=lambda w: paths.activation_store(w.source, "heldout"),
    output:
        paths.sae_files(paths.SANITY_IMPORT_KEY, paths.SAE_LOADABLE),
        reference=paths.sae_file(paths.SANITY_IMPORT_KEY, paths.SANITY_REFERENCE),
    wildcard_constraints:
        arch="[a-z0-9_]+",
        name="[a-z0-9_]+",
    params:
        out=lambda w, output: os.path.dirname(output.reference),
    threads: config["threads"]
    log:
        paths.log_file("sanity_import", paths.SANITY_IMPORT_KEY),
    benchmark:
        paths.benchmark_file("sanity_import", paths.SANITY_IMPORT_KEY)
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} sanity-import --folder {input.external} --data {input.data}"
        " --name {wildcards.name} --source {wildcards.source} --out {params.out} 2> {log}"


rule sanity_train:
    """One matched random baseline of an imported SAE (its architecture and width, trained to its held-out L0, with
    its held-out training curve: where it stopped), its negative control (variant untrained: the same init
    calibrated to that L0, no step taken) or its trained control (variant trained_control: trained to
    convergence)."""
    input:
        data=lambda w: paths.activation_store(w.source, "activations"),
        heldout=lambda w: paths.activation_store(w.source, "heldout"),
        reference=paths.sae_file(paths.sanity_key("{source}", "{arch}", "{name}", "trained", paths.EXTERNAL_SEED),
                                 paths.SANITY_REFERENCE),
    output:
        paths.sae_files(paths.SANITY_KEY, names=paths.SAE_LOADABLE),
        train_log=paths.sae_file(paths.SANITY_KEY, paths.TRAIN_LOG),
        checkpoints=directory(paths.checkpoints_dir(paths.SANITY_KEY)),
    wildcard_constraints:
        arch="[a-z0-9_]+",
        name="[a-z0-9_]+",
    params:
        spec=lambda w: specs.train_spec(config, w.source, f"{w.arch}{paths.SANITY_TAG}{w.name}", w.variant, w.seed),
        until_converged=lambda w: specs.until_converged_arg(config, w.variant),
        out=lambda w, output: os.path.dirname(output.train_log),
    threads: config["threads"]
    log:
        paths.log_file("sanity_train", paths.SANITY_KEY),
    benchmark:
        paths.benchmark_file("sanity_train", paths.SANITY_KEY)
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} train --spec {params.spec:q} --data {input.data}"
        " --heldout {input.heldout} --target-l0-from {input.reference} --source {wildcards.source}"
        "{params.until_converged} --out {params.out} 2> {log}"


rule sanity_concept_dictionary:
    """The positive control on the toy world: one JumpReLU latent per known concept (the concept check's ideal
    detectors, fitted on the tokens the explainer scans), the decoder by least squares, at the SAE's width."""
    input:
        data=lambda w: paths.activation_store(w.source, "activations"),
        corpus=paths.TOYWORLD_CORPUS,
        reference=paths.sae_file(paths.SANITY_IMPORT_KEY, paths.SANITY_REFERENCE),
    output:
        paths.sae_files(paths.SANITY_CONCEPTS_KEY, paths.SAE_LOADABLE),
    wildcard_constraints:
        arch="[a-z0-9_]+",
        name="[a-z0-9_]+",
    params:
        out=lambda w, output: os.path.dirname(output[0]),
        train_tokens=config["evals"]["autointerp"]["train_tokens"],
    threads: config["threads"]
    log:
        paths.log_file("sanity_concept_dictionary", paths.SANITY_CONCEPTS_KEY),
    benchmark:
        paths.benchmark_file("sanity_concept_dictionary", paths.SANITY_CONCEPTS_KEY)
    resources:
        mem_mb=6000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} sanity-concept-dictionary --train {input.data}"
        " --documents {input.corpus}/documents.parquet --reference {input.reference}"
        " --train-tokens {params.train_tokens} --out {params.out} 2> {log}"


rule sanity_verdicts:
    """results/sanity/<name>/: verdict.csv (per metric the SAE, each baseline, the margin over the best one,
    the margin's interval and the verdict it decides, the controls), verdict.md (sentences to paste) and verdict.png."""
    input:
        **targets.sanity_inputs(config),
    output:
        report(
            directory(paths.SANITY_DIR),
            patterns=["{name}/verdict.png"],
            caption="../report/sanity.rst",
            category="Sanity check of your SAE",
            labels={"sae": "{name}"},
        ),
    log:
        paths.log_file("sanity_verdicts"),
    benchmark:
        paths.benchmark_file("sanity_verdicts")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity sanity-verdict --references {input.references} --metrics {input.metrics}"
        " --out {output} 2> {log}"
