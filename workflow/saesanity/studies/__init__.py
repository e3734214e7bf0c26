"""Studies beyond the paper's tables. `regimes` (settings and draws), `regime_probes` (the probes),
`regimes_job` (the prep and probe jobs) and `regimes_table` (tables and the quiver of arrows): probing in four
regimes, the protocol of Kantamneni et al., "Are Sparse Autoencoders Useful? A Case Study in Sparse Probing"
(arXiv 2502.16681)."""
