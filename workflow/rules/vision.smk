# The vision part (config `vision`; docs/vision.md): only the opt-in target results/vision asks for these
# jobs. SAEs on a vision source (vision-<model>-<hook>) train through the `train` rule and get EV and L0
# from `eval_core`, like every other SAE.


rule vision_world:
    """The toy vision world: images whose concepts are known per image and per patch."""
    output:
        directory(paths.VISION_WORLD),
    params:
        spec=specs.vision_world_spec(config),
    log:
        paths.log_file("vision", "world"),
    benchmark:
        paths.benchmark_file("vision", "world")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity vision-world --spec {params.spec:q} --out {output} 2> {log}"


rule train_vit:
    """The toy ViT, trained to classify the world's image attributes; its held-out accuracy."""
    input:
        world=paths.VISION_WORLD,
    output:
        model=directory(specs.vision_model_dir(config)),
        metrics=paths.metrics_file(config["vision"]["name"], "vit"),
    params:
        spec=specs.train_vit_spec(config),
    threads: config["threads"]
    log:
        paths.log_file("vision", "train_vit"),
    benchmark:
        paths.benchmark_file("vision", "train_vit")
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} train-vit --spec {params.spec:q} --world {input.world}"
        " --out {output.model} --metrics {output.metrics} 2> {log}"


rule vision_harvest:
    """A vision model's activations at one hook, every token of every image: training and held-out stores."""
    input:
        model=vision_model_input(),
        world=vision_world_input(),
    output:
        train=directory(paths.vision_store("{model}", "{hook}", "activations")),
        heldout=directory(paths.vision_store("{model}", "{hook}", "heldout")),
    params:
        spec=lambda w: specs.vision_harvest_spec(config, w.hook),
    threads: config["threads"]
    log:
        paths.log_file("vision_harvest", "{model}/{hook}"),
    benchmark:
        paths.benchmark_file("vision_harvest", "{model}/{hook}")
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} vision-harvest --spec {params.spec:q} --out {output.train}"
        " --heldout-out {output.heldout} 2> {log}"


rule eval_vision:
    """One vision SAE: loss and accuracy recovered when spliced in, sparse probing, the concept check and
    detection scoring."""
    input:
        sae=sae_input(),
        train=lambda w: paths.activation_store(w.source, "activations"),
        heldout=lambda w: paths.activation_store(w.source, "heldout"),
        model=vision_model_input(),
        world=vision_world_input(),
    output:
        paths.metrics_file(paths.SAE_KEY, "vision"),
    wildcard_constraints:
        source=paths.VISION_SOURCE_PATTERN,
    params:
        sae=sae_folder,
        spec=lambda w: specs.vision_eval_spec(config, w.source),
    threads: config["threads"]
    log:
        paths.log_file("eval_vision", paths.SAE_KEY),
    benchmark:
        paths.benchmark_file("eval_vision", paths.SAE_KEY)
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity --threads {threads} eval-vision --sae {params.sae} --spec {params.spec:q}"
        " --train {input.train} --heldout {input.heldout} --out {output} 2> {log}"


rule vision_concepts_reference:
    """The concept check of an ideal and a random dictionary on the toy world's patches."""
    input:
        train=lambda w: paths.activation_store(w.source, "activations"),
        heldout=lambda w: paths.activation_store(w.source, "heldout"),
        world=vision_world_input(),
    output:
        paths.metrics_file("{source}", "vision_concepts_reference"),
    wildcard_constraints:
        source=paths.VISION_SOURCE_PATTERN,
    params:
        spec=specs.vision_reference_spec(config),
    log:
        paths.log_file("vision_concepts_reference", "{source}"),
    benchmark:
        paths.benchmark_file("vision_concepts_reference", "{source}")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity vision-concepts-reference --train {input.train} --heldout {input.heldout}"
        " --spec {params.spec:q} --source {wildcards.source} --out {output} 2> {log}"


rule vision_report:
    """The opt-in target: the vision Table 2 (trained vs random baselines), the ViT's accuracy, the figure."""
    input:
        **targets.vision_report_inputs(config),
    output:
        report(
            directory(paths.VISION),
            patterns=["{name}.png"],
            caption="../report/vision.rst",
            category="Vision",
        ),
    log:
        paths.log_file("vision", "report"),
    benchmark:
        paths.benchmark_file("vision", "report")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity vision-report --core {input.core} --vision {input.vision} --model {input.model}"
        " --reference {input.reference} --out {output} 2> {log}"
