# Labelled text from pinned PyPI files (saesanity.data.offline; docs/offline-data.md). Each rule fetches what
# it reads into the shared download cache, checked by SHA-256; offline, a copy of the pinned file placed
# there is used instead of pip.


rule sentiment_set:
    """Movie-review sentiment and snippet-source probing sets from vaderSentiment's human-rated snippets."""
    output:
        directory(paths.SENTIMENT_SET),
    params:
        spec=specs.offline_labels_spec(config, "sentiment"),
        cache=paths.PYPI_DOWNLOADS,
    log:
        paths.log_file("offline_labels", "sentiment"),
    benchmark:
        paths.benchmark_file("offline_labels", "sentiment")
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity sentiment-set --spec {params.spec:q} --cache {params.cache} --out {output} 2> {log}"


rule ravel_cities:
    """RAVEL's city entity type (country, continent, language) on GeoNames cities, in RAVEL's JSON layout."""
    output:
        directory(paths.RAVEL_CITIES),
    params:
        spec=specs.offline_labels_spec(config, "ravel_cities"),
        cache=paths.PYPI_DOWNLOADS,
    log:
        paths.log_file("offline_labels", "ravel_cities"),
    benchmark:
        paths.benchmark_file("offline_labels", "ravel_cities")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity ravel-cities --spec {params.spec:q} --cache {params.cache} --out {output} 2> {log}"
