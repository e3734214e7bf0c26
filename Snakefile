# saesanity: "Sanity Checks for Sparse Autoencoders" (arXiv 2602.14111) and PW-MCC consistency
# (arXiv 2505.20254), from data to figures. Targets: results/figures (everything), results/tables.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


# Validated (and defaults filled from the schema) before any job is scheduled; an error names the key.
validate(config, "workflow/schemas/config.schema.yaml", set_default=True)


include: "workflow/rules/common.smk"


checks.check_config(config)


include: "workflow/rules/synthetic.smk"
include: "workflow/rules/toyworld.smk"
include: "workflow/rules/offline_labels.smk"
include: "workflow/rules/offline_data.smk"
include: "workflow/rules/harvest.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/probing.smk"
include: "workflow/rules/autointerp.smk"
include: "workflow/rules/ravel.smk"
include: "workflow/rules/consistency.smk"
include: "workflow/rules/validation.smk"
include: "workflow/rules/convergence.smk"
include: "workflow/rules/sanity.smk"
include: "workflow/rules/studies.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/vision.smk"


report: "workflow/report/workflow.rst"


rule all:
    """The default target: every output (saesanity.pipeline.targets.all_targets), so that a plain run
    rebuilds any deleted file and its dependants (docs/reproducibility.md: what reruns when)."""
    input:
        targets.all_targets(config),
    default_target: True
