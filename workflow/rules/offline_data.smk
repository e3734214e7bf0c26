# Real text from pinned Debian 12 packages (saesanity/data/offline, docs/offline-data.md): each package is
# fetched once into results/downloads/debian, then the English corpus and the labelled probing sets.


rule debian_package:
    """One pinned .deb: `apt-get download`, SHA-256 check, data archive extracted (the .deb stays beside it)."""
    # The real model's chain is the build's critical path (harvest -> 16 SAEs -> their evaluations): start it
    # first, and let the synthetic jobs fill the other core.
    priority: 10
    output:
        directory(paths.DEBIAN_PACKAGE),
    log:
        paths.log_file("debian", "{deb}"),
    benchmark:
        paths.benchmark_file("debian", "{deb}")
    wildcard_constraints:
        deb="[a-z0-9.+-]+_[A-Za-z0-9.+~%-]+",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity fetch-deb --out {output:q} 2> {log:q}"


rule english_text:
    """The English training corpus: train.jsonl, heldout.jsonl (split by document), provenance.json."""
    # The real model's chain is the build's critical path (harvest -> 16 SAEs -> their evaluations): start it
    # first, and let the synthetic jobs fill the other core.
    priority: 10
    input:
        specs.english_text_packages(config),
    output:
        directory(paths.ENGLISH_TEXT),
    params:
        spec=specs.english_text_spec(config),
        # The download cache: the folder of the extracted packages this job reads.
        cache=lambda w, input: os.path.dirname(input[0]),
    log:
        paths.log_file("offline_text", "english"),
    benchmark:
        paths.benchmark_file("offline_text", "english")
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity fetch-text --spec {params.spec:q} --cache {params.cache} --out {output} 2> {log}"


rule probing_sets:
    """Labelled probing sets (<set>.jsonl: text and one label column) and their class counts (provenance.json)."""
    input:
        specs.probing_sets_packages(config),
    output:
        directory(paths.PROBING_SETS),
    params:
        spec=specs.probing_sets_spec(config),
        # The download cache: the folder of the extracted packages this job reads.
        cache=lambda w, input: os.path.dirname(input[0]),
    log:
        paths.log_file("offline_text", "probing"),
    benchmark:
        paths.benchmark_file("offline_text", "probing")
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m saesanity probing-sets --spec {params.spec:q} --cache {params.cache} --out {output} 2> {log}"
