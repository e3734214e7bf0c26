# saesanity: "Sanity Checks for Sparse Autoencoders" (arXiv 2602.14111) and PW-MCC consistency
# (arXiv 2505.20254), from data to figures. Targets: results/figures (everything), results/tables.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


# Validated (and defaults filled from the schema) before any job is scheduled; an error names the key.
validate(config, "workflow/schemas/config.schema.yaml", set_default=True)


include: "workflow/rules/common.smk"


pipeline.check_config(config)


include: "workflow/rules/synthetic.smk"
include: "workflow/rules/toyworld.smk"
include: "workflow/rules/harvest.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/probing.smk"
include: "workflow/rules/autointerp.smk"
include: "workflow/rules/ravel.smk"
include: "workflow/rules/consistency.smk"
include: "workflow/rules/validation.smk"
include: "workflow/rules/convergence.smk"
include: "workflow/rules/figures.smk"


report: "workflow/report/workflow.rst"


rule all:
    """The default target. It lists every output, not only the figures: Snakemake 9 rebuilds a deleted
    file only when a target asks for it, so a missing intermediate under present, newer outputs would be
    left alone (README: what reruns when)."""
    input:
        "results/figures",
        rules.table_synthetic.input,
        rules.table_validation.input,
        [
            f"{pipeline.sweep_dir(k['dist'], k['d_sae'], k['arch'])}/seed{k['seed']}/{f}"
            for k in pipeline.sweep_keys(config)
            for f in ("cfg.json", "sae_weights.safetensors", "train_log.csv")
        ],
        [
            f"results/synthetic/{d}/{split}"
            for d in config["synthetic"]["distributions"]
            for split in ("activations", "heldout")
        ],
        [
            f"results/saes/{k.path}/{f}"
            for k in synthetic_sae_keys() + lm_sae_keys()
            for f in ("cfg.json", "sae_weights.safetensors", "train_log.csv")
        ],
        rules.table_lm.input,
        # Every per-SAE evaluation of the language-model SAEs (pipeline.table2_evals).
        rules.table2.input,
        [
            pipeline.activation_store(src, split)
            for src in pipeline.lm_sources(config)
            for split in ("activations", "heldout")
        ],
        rules.tokenizer.output if pipeline.is_toyworld(config) else [],
        rules.table_convergence.output if pipeline.convergence_runs(config) else [],
    default_target: True
