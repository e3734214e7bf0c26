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
include: "workflow/rules/consistency.smk"
include: "workflow/rules/figures.smk"


rule all:
    input:
        "results/figures",
    default_target: True
