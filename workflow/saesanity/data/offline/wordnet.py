"""WordNet 3.0's synsets as the Debian package `wordnet-base` ships them (usr/share/wordnet/data.noun, ...;
format in wndb(5WN): `offset lex_filenum ss_type w_cnt word lex_id ... p_cnt [ptr ...] | gloss`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WORDNET_DIR = "usr/share/wordnet"
PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")

# lexnames(5WN): the lexicographer files, numbered as in data.*'s lex_filenum (Debian does not ship the
# `lexnames` file itself).
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
    "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication",
    "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl")


@dataclass(frozen=True)
class Synset:
    pos: str
    offset: str
    lexname: str
    lemmas: tuple[str, ...]
    """Words of the synset, underscores turned to spaces, WordNet's order (the first is the headword)."""
    hypernyms: tuple[str, ...]
    """Offsets of '@' (hypernym) pointers to the same part of speech."""
    instance_of: tuple[str, ...]
    """Offsets of '@i' (instance hypernym) pointers: set for named instances (people, places)."""
    gloss: str

    def text(self) -> str:
        """'headword: gloss', the row text of the corpus and the probing sets."""
        return f"{self.lemmas[0]}: {self.gloss}"


def read_synsets(root: Path, pos: str) -> list[Synset]:
    """Every synset of data.<pos> below an extracted wordnet-base (file order, i.e. by offset)."""
    out = []
    with open(Path(root) / WORDNET_DIR / f"data.{pos}", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  "):  # the licence header
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            n_words = int(fields[3], 16)
            # Adjective lemmas may carry a syntactic marker such as "(a)" or "(p)".
            lemmas = tuple(fields[4 + 2 * i].split("(")[0].replace("_", " ") for i in range(n_words))
            at = 4 + 2 * n_words
            pointers = [(fields[at + 1 + 4 * j], fields[at + 2 + 4 * j]) for j in range(int(fields[at]))]
            out.append(Synset(pos, fields[0], LEXNAMES[int(fields[1])], lemmas,
                              tuple(o for s, o in pointers if s == "@"), tuple(o for s, o in pointers if s == "@i"),
                              gloss.strip()))
    return out
