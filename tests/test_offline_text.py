"""Real text from pinned Debian packages (saesanity.data.offline, docs/offline-data.md): the packages are
fetched once into pytest's cache folder (apt-get download, about 45 MB: a cold fetch and extraction takes
15-45 s; later sessions reuse it), then every set is checked against its source. Skipped where apt-get is missing."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from saesanity.config import ConfigError
from saesanity.data.offline import debian
from saesanity.data.offline.debian import (PINS, DebHashMismatch, DebianUnavailable, fetch_deb, read_ar,
                                           sha256_of)
from saesanity.data.offline.english import EnglishTextConfig, build_english, chunk
from saesanity.data.offline.markup import info_nodes, strip_gcide, strip_groff
from saesanity.data.offline.probing_sets import (LANGUAGE_PACKAGES, TOPIC_CLASSES, ProbingSetsConfig,
                                                 build_probing_sets, man_pages, page_paragraphs)
from saesanity.data.offline.wordnet import read_synsets
from saesanity.evals.probing.data import REGISTRY, ProbingDataset, load_labelled
from saesanity.pipeline import checks, specs

REPO = Path(__file__).resolve().parents[1]

SOURCES_OF = {"gcide", "wordnet", "python_doc", "fortunes"}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def cache(request) -> Path:
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get not found: the pinned Debian packages cannot be fetched on this system")
    # pytest's cache folder outlives the session, so a second run finds the packages extracted; fetch_deb
    # trusts an existing folder only because extraction renames a finished one into place.
    folder = request.config.cache.mkdir("saesanity-debian")
    try:
        for pin in PINS.values():
            fetch_deb(pin, folder)
    except DebianUnavailable as err:
        pytest.skip(f"the pinned Debian packages are not downloadable here: {err}")
    return folder


@pytest.fixture(scope="module")
def english(cache, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("text") / "english"
    build_english(EnglishTextConfig(), cache, out)
    return out


@pytest.fixture(scope="module")
def english_rows(english) -> dict[str, list[dict]]:
    return {split: _rows(english / f"{split}.jsonl") for split in ("train", "heldout")}


@pytest.fixture(scope="module")
def probing(cache, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("text") / "probing"
    build_probing_sets(ProbingSetsConfig(), cache, out)
    return out


# --- fetching -----------------------------------------------------------------------------------------------

def test_every_pin_is_the_measured_file(cache):
    for pin in PINS.values():
        assert sha256_of(cache / f"{pin.folder}_all.deb") == pin.sha256, pin.name
        assert any((cache / pin.folder).rglob("*")), pin.name


def test_a_wrong_hash_is_refused_naming_both(cache, tmp_path):
    pin = PINS["manpages-it"]
    wrong = dataclasses.replace(pin, sha256="0" * 64)
    with pytest.raises(DebHashMismatch, match=f"SHA-256 {pin.sha256}, but .* pinned to {'0' * 64}"):
        fetch_deb(wrong, tmp_path)
    assert not (tmp_path / pin.folder).exists()


def test_a_corrupted_cached_deb_is_fetched_again(cache, tmp_path):
    pin = PINS["manpages-it"]
    deb = tmp_path / f"{pin.folder}_all.deb"
    blob = bytearray((cache / deb.name).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    deb.write_bytes(bytes(blob))
    assert (fetch_deb(pin, tmp_path) / "usr/share/man/it").is_dir()
    assert sha256_of(deb) == pin.sha256


def test_extraction_is_atomic(cache, tmp_path, monkeypatch):
    pin = PINS["manpages-it"]
    shutil.copy(cache / f"{pin.folder}_all.deb", tmp_path)

    def half_then_fail(deb, dest):
        dest.mkdir(parents=True)
        (dest / "half-written").write_text("x")
        raise OSError("disk full")

    monkeypatch.setattr(debian, "extract_deb", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        fetch_deb(pin, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{pin.folder}_all.deb"]


def test_no_apt_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(debian.shutil, "which", lambda name: None)
    pin = PINS["wordnet-base"]
    with pytest.raises(DebianUnavailable, match="not a Debian-based system") as err:
        fetch_deb(pin, tmp_path)
    assert pin.version in str(err.value) and str(tmp_path / pin.folder) in str(err.value)
    assert "own_text" in str(err.value)


def test_read_ar_members_and_padding():
    def member(name: str, data: bytes) -> bytes:
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        return header + data + (b"\n" if len(data) % 2 else b"")

    blob = b"!<arch>\n" + member("debian-binary", b"2.0\n") + member("data.tar.xz", b"odd") + member("z", b"ok")
    assert read_ar(blob) == {"debian-binary": b"2.0\n", "data.tar.xz": b"odd", "z": b"ok"}
    with pytest.raises(ValueError, match="not an ar archive"):
        read_ar(b"PK\x03\x04")


# --- markup -------------------------------------------------------------------------------------------------

def test_strip_gcide():
    entry = ('Arrive \\Ar*rive"\\, v. i. [OF. ariver.]\n   To come to {shore}. [1913 Webster]\n\n'
             '         Happy! --Waller.\n   [WordNet 1.5]\n'
             'chainsaw (ch[=a]n"s[add]), n. a <i>saw</i> &amp; more.\n   [PJC]')
    text = strip_gcide(entry)
    assert text == ("Arrive v. i. [OF. ariver.] To come to shore.\n\nHappy! --Waller.\n\n"
                    "chainsaw, n. a saw & more.")


def test_strip_groff():
    page = (".\\\" a comment\n.TH OPEN 2\n.SH NAME\nopen \\- open a file\n.SH DESCRIPTION\n"
            "The \\fBopen\\fP() call opens\n.BR path name (7)\n.I in\nplace \\(em quickly.\n.PP\n"
            ".nf\nint fd = open(p);\n.fi\nSecond paragraph.\n.TS\ntab;\n.TE\n.ig\nignored\n..\n")
    assert strip_groff(page) == ["open - open a file", "The open() call opens pathname(7) in place — quickly.",
                                 "Second paragraph."]


def test_info_nodes():
    info = ("preamble\n\x1f\nFile: p.info,  Node: Intro,  Next: B\n\n1 Intro\n*******\n\nSee *note os: 10a. "
            "and *note PEP 519: 3d. now(1).\n\n* Menu:\n\n* B::\n\x1f\nTag Table:\nNode: Intro\x7f1\n")
    (name, body), = info_nodes(info)
    assert name == "Intro" and "See os and PEP 519 now." in body and "Menu" not in body and "****" not in body


def test_chunk_keeps_words_and_limit():
    text = "a b c\n" + " ".join(f"w{i}" for i in range(25)) + "\nd e"
    rows = chunk(text, 10)
    assert all(len(r.split()) <= 10 for r in rows)
    assert " ".join(" ".join(rows).split()) == " ".join(text.split())
    assert rows[0] == "a b c"


def test_configs_check_their_keys():
    with pytest.raises(ConfigError, match="sources"):
        EnglishTextConfig(sources=["wiki"])
    with pytest.raises(ConfigError, match="sources"):
        EnglishTextConfig(sources=[])
    with pytest.raises(ConfigError, match="sets"):
        ProbingSetsConfig(sets=["imdb"])


# --- the English corpus -------------------------------------------------------------------------------------

def test_english_counts_split_and_provenance(english, english_rows):
    train, heldout = english_rows["train"], english_rows["heldout"]
    prov = json.loads((english / "provenance.json").read_text())
    assert {r["doc"] for r in train}.isdisjoint({r["doc"] for r in heldout})
    assert sorted(r["doc"] for r in train + heldout) == list(range(len(train) + len(heldout)))
    assert {r["source"] for r in train} == {r["source"] for r in heldout} == SOURCES_OF
    # SmolLM2 makes ~1.3 tokens per English word: 2.5M words is about 3M tokens, over the 2M needed.
    assert prov["words"]["train"] == sum(len(r["text"].split()) for r in train) >= 2_500_000
    for source, splits in prov["counts"].items():
        assert splits["train"]["rows"] == sum(r["source"] == source for r in train)
        share = splits["heldout"]["documents"] / (splits["heldout"]["documents"] + splits["train"]["documents"])
        assert 0.03 < share < 0.07, source
    assert {p["name"]: p["sha256"] for p in prov["packages"]} == {
        n: PINS[n].sha256 for n in ("dict-gcide", "wordnet-base", "python3.11-doc", "fortunes")}
    assert max(len(r["text"].split()) for r in train) <= 300
    for marker in ("[1913 Webster]", "\\fB", "*note", "\x1f", "<hw>"):
        assert not any(marker in r["text"] for r in train[::50]), marker


def test_english_rows_come_from_their_package(english_rows, cache):
    train = english_rows["train"] + english_rows["heldout"]
    root = cache / PINS["wordnet-base"].folder
    glosses = {" ".join(line.partition(" | ")[2].split()) for pos in ("noun", "verb", "adj", "adv")
               for line in (root / f"usr/share/wordnet/data.{pos}").read_text(encoding="utf-8").splitlines()}
    lines = [line for r in train if r["source"] == "wordnet" for line in r["text"].split("\n")]
    assert len(lines) > 100_000 and all(line.split(": ", 1)[1] in glosses for line in lines[::20])
    by_source = {}
    for r in train:
        by_source.setdefault(r["source"], []).append(r["text"])
    assert any(t.startswith("Arrogance n. [F., fr. L. arrogantia") for t in by_source["gcide"])
    assert any("Return the current collection thresholds" in t for t in by_source["python_doc"])
    assert not any("Return the current collection thresholds" in t for t in by_source["gcide"])


def test_own_text_and_rerun_bytes(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "b.txt").write_text("Second document, with   several words in it.\n")
    (folder / "a.txt").write_text("First document here, long enough to keep.\n\nAnd a second paragraph.")
    cfg = EnglishTextConfig(sources=[], own_text=str(folder), heldout_fraction=0.01)
    build_english(cfg, tmp_path / "cache", tmp_path / "one")
    build_english(cfg, tmp_path / "cache", tmp_path / "two")
    rows = _rows(tmp_path / "one/train.jsonl")
    assert [r["text"] for r in rows] == ["First document here, long enough to keep.\nAnd a second paragraph.",
                                         "Second document, with several words in it."]
    assert {r["source"] for r in rows} == {"own_text"}
    for name in ("train.jsonl", "heldout.jsonl", "provenance.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


# --- the probing sets ---------------------------------------------------------------------------------------

def test_probing_counts_match_provenance(probing):
    prov = json.loads((probing / "provenance.json").read_text())
    for name, info in prov["sets"].items():
        rows = _rows(probing / f"{name}.jsonl")
        column = info["label_column"]
        assert all(set(r) == {"text", column} for r in rows)
        counts = {}
        for r in rows:
            counts[r[column]] = counts.get(r[column], 0) + 1
        assert counts == info["rows_per_class"], name
        assert set(counts) == set(REGISTRY[name].label_sets[column].classes), name
        assert len({(r["text"], r[column]) for r in rows}) == len(rows), name
    assert min(prov["sets"]["wordnet_topic"]["rows_per_class"].values()) >= 2000
    assert min(prov["sets"]["manpages_language"]["rows_per_class"].values()) >= 400
    # WordNet has 3,814 named people: two professions stay near 250 (docs/offline-data.md).
    assert min(prov["sets"]["wordnet_profession"]["rows_per_class"].values()) >= 240


def test_topic_rows_come_from_their_lexicographer_file(probing, cache):
    lexnames: dict[str, set[str]] = {}
    for s in read_synsets(cache / PINS["wordnet-base"].folder, "noun"):
        lexnames.setdefault(s.text(), set()).add(s.lexname)
    rows = _rows(probing / "wordnet_topic.jsonl")
    assert {r["topic"] for r in rows} == set(TOPIC_CLASSES)
    assert all(r["topic"] in lexnames[r["text"]] for r in rows)


def test_profession_rows_are_wordnet_people(probing, cache):
    people = {f"{max(s.lemmas, key=len)}: {s.gloss}": s for s in read_synsets(cache / PINS["wordnet-base"].folder,
                                                                                "noun")
              if s.instance_of and s.lexname == "noun.person"}
    rows = _rows(probing / "wordnet_profession.jsonl")
    assert all(r["text"] in people for r in rows)
    label = {r["text"].split(":")[0]: r["profession"] for r in rows}
    assert {name: label.get(name) for name in ("Wolfgang Amadeus Mozart", "William Shakespeare", "Albert Einstein",
                                               "President Abraham Lincoln", "Rembrandt Harmensz van Rijn")} == {
        "Wolfgang Amadeus Mozart": "musician", "William Shakespeare": "writer", "Albert Einstein": "scientist",
        "President Abraham Lincoln": "politician", "Rembrandt Harmensz van Rijn": "artist"}


def test_language_rows_come_from_their_package(probing, cache):
    paragraphs = {}
    for lang, package in LANGUAGE_PACKAGES.items():
        pages = man_pages(cache / PINS[package].folder, lang)
        paragraphs[lang] = {" ".join(p.split()) for path in pages.values() for p in page_paragraphs(path)}
    rows = _rows(probing / "manpages_language.jsonl")
    for r in rows[::7]:
        own = paragraphs[r["language"]]
        assert r["text"] in own or any(p.startswith(r["text"]) for p in own), r
        if r["language"] != "en":
            assert r["text"] not in paragraphs["en"], r
    german = [r["text"] for r in rows if r["language"] == "de"]
    assert sum(" der " in t or " die " in t for t in german) > 0.8 * len(german)


def test_probing_rerun_is_byte_identical(probing, cache, tmp_path):
    build_probing_sets(ProbingSetsConfig(), cache, tmp_path / "again")
    for path in sorted(probing.iterdir()):
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes(), path.name


def test_registry_reads_the_local_sets(probing):
    for name, entry in REGISTRY.items():
        if entry.hub_path is not None:
            continue
        with pytest.raises(ConfigError, match="local-only"):
            ProbingDataset(name)
        docs = load_labelled(ProbingDataset(name, path="json", data_files=[str(probing / f"{name}.jsonl")]),
                             per_class=100)
        (label_set, classes), = docs.labels.items()
        assert set(classes) - {None} == set(entry.label_sets[label_set].classes)


# --- the pipeline's view ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def default_config() -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    return config


def test_a_local_set_reads_the_file_its_rule_writes(default_config):
    # Named alone, a local-only set is read from the pipeline's own file, whose folder the preparation
    # job takes as input; a path of the user's is kept as given.
    config = copy.deepcopy(default_config)
    config["evals"]["probing"]["datasets"] = [{"name": "wordnet_topic"}]
    checks.check_config(config)
    (dataset,) = json.loads(specs.probing_prep_spec(config, config["lm"]["name"], config["lm"]["hooks"][0]))[
        "probing"]["datasets"]
    assert dataset == {"name": "wordnet_topic", "path": "json",
                       "data_files": ["results/text/probing/wordnet_topic.jsonl"]}
    assert specs.probing_inputs(config) == ["results/text/probing"]
    config["evals"]["probing"]["datasets"] = [{"name": "wordnet_topic", "path": "json", "data_files": ["mine.jsonl"]}]
    assert specs.probing_inputs(config) == []


def test_rule_inputs_are_the_packages_each_job_reads(default_config):
    assert specs.english_text_packages(default_config) == [
        f"results/downloads/debian/{PINS[n].folder}" for n in ("dict-gcide", "wordnet-base", "python3.11-doc",
                                                               "fortunes")]
    config = copy.deepcopy(default_config)
    config["offline_text"]["probing"]["sets"] = ["manpages_language"]
    assert len(specs.probing_sets_packages(config)) == len(LANGUAGE_PACKAGES)
    assert json.loads(specs.english_text_spec(default_config)) == dataclasses.asdict(EnglishTextConfig())
