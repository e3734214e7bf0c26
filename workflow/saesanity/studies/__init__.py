"""Studies beyond arXiv 2602.14111's tables that put the trained SAEs beside their random baselines: SAE
stitching and meta-SAEs (Leask et al., arXiv 2502.04878: `stitching`, `meta_sae`, `concept_links`,
`studies_jobs`, `stitch_tables`) and probing in four regimes (Kantamneni et al., arXiv 2502.16681: `regimes`,
`regime_probes`, `regimes_job`, `regimes_table`)."""
