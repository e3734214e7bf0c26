"""What the Snakefile needs from the config, one module per concern; the rules import them by name
(workflow/rules/common.smk):

- paths.py: every output path, defined once (rules and package alike);
- jobs.py: which sources, SAEs, one-pass groups and seed groups the config asks for;
- specs.py: each job's slice of the config, as the JSON its rule passes to the CLI;
- targets.py: the file lists of the table rules and of the default target `all`;
- checks.py: the cross-key checks run before any job.
"""
