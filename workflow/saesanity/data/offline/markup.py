"""Plain text from the markup of the pinned packages: GCIDE's dictd entries, groff man pages, GNU info nodes.
Each stripper keeps prose and drops what is not prose (pronunciations, source tags, macros, code blocks)."""

from __future__ import annotations

import re

_SPACE = re.compile(r"[ \t]+")


def collapse(text: str) -> str:
    """Paragraphs (blank-line separated) with the whitespace inside each folded to single spaces."""
    paragraphs = (_SPACE.sub(" ", " ".join(p.split())) for p in re.split(r"\n\s*\n", text))
    return "\n\n".join(p for p in paragraphs if p)


# GCIDE as dictd renders it (dict-gcide's gcide.dict.dz): "Arrive \Ar*rive"\, v. t." headword lines with the
# pronunciation between backslashes, {cross references}, source tags such as [1913 Webster] or [WordNet 1.5]
# (mostly on their own lines, sometimes after text). The raw GCIDE XML-ish markup (<hw>, <def>, &eacute;) is
# removed too, in case a user's copy is the raw form.
_GCIDE_SOURCE = re.compile(r"[ \t]*\[[^\]\n]*(?:Webster|WordNet|PJC|Century|Chambers|\bRN\b|\bMW\b|\bAS\b)[^\]\n]*\]")
_GCIDE_PRON = re.compile(r"\\[^\\\n]*\\,?")
_TAG = re.compile(r"<[^<>\n]{1,40}>")
_ENTITY = re.compile(r"&([a-zA-Z]{1,10});")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "eacute": "é", "egrave": "è", "aacute": "á",
             "agrave": "à", "uuml": "ü", "ouml": "ö", "auml": "ä", "ccedil": "ç", "ntilde": "ñ", "mdash": "—",
             "ndash": "–", "ae": "æ", "oe": "œ", "deg": "°", "frac12": "½"}


def strip_gcide(entry: str) -> str:
    text = _GCIDE_SOURCE.sub("", entry)
    text = _GCIDE_PRON.sub("", text)
    # Entries added after 1913 give the pronunciation in parentheses with bracketed codes: '(ch[=a]n"s[add])'.
    text = re.sub(r"\s*\((?=[^()\n]*\[[^\]\n]{1,6}\])[^()\n]*\)", "", text)
    text = re.sub(r"\{([^{}]*)\}", r"\1", text)
    text = _TAG.sub("", text)
    text = _ENTITY.sub(lambda m: _ENTITIES.get(m.group(1), ""), text)
    return collapse(text)


# groff man(7): requests start with '.' or "'"; font and inline escapes (\fB, \(em, \-, \&) sit inside text.
_BREAK = {"SH", "SS", "PP", "P", "LP", "TP", "IP", "HP", "sp", "br", "RS", "RE", "TQ", "SY", "YS", "in"}
_FONT = {"B", "I", "SM", "SB", "BI", "BR", "IB", "IR", "RB", "RI"}
_SKIP_BLOCK = {"nf": "fi", "EX": "EE", "TS": "TE", "EQ": "EN", "ig": ".."}
_GLYPHS = {"em": "—", "en": "–", "aq": "'", "dq": '"', "lq": "“", "rq": "”", "oq": "‘", "cq": "’", "hy": "-",
           "bu": "•", "co": "©", "rg": "®", "mu": "×", ">=": "≥", "<=": "≤", "ti": "~", "ha": "^", "rs": "\\",
           "Fo": "«", "Fc": "»", "r!": "¡", "r?": "¿", "ga": "`", "at": "@", "sh": "#", "Do": "$"}


def _groff_inline(line: str) -> str:
    line = re.sub(r"\\f(?:\[[^\]]*\]|\(..|.)", "", line)
    line = re.sub(r"\\\*?\((..)", lambda m: _GLYPHS.get(m.group(1), ""), line)
    line = re.sub(r"\\\*?\[([^\]]*)\]", lambda m: _GLYPHS.get(m.group(1), ""), line)
    line = re.sub(r"\\s[+-]?\d", "", line)
    line = line.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "").replace("\\ ", " ")
    line = line.replace("\\~", " ").replace("\\%", "").replace("\\:", "").replace("\\c", "").replace("\\|", "")
    return line.replace("\\^", "").replace("\\0", " ")


def _macro_args(rest: str) -> list[str]:
    return [a.strip('"') for a in re.findall(r'"[^"]*"|\S+', rest)]


def strip_groff(source: str) -> list[str]:
    """The prose paragraphs of a man page: headings, code and tables dropped; font macros keep their words
    (.BR a b -> 'ab', as groff joins alternating fonts without a space)."""
    paragraphs: list[str] = []
    current: list[str] = []
    end_block: str | None = None

    def flush() -> None:
        text = " ".join(" ".join(current).split())
        if text:
            paragraphs.append(text)
        current.clear()

    for raw in source.splitlines():
        line = raw.split('\\"', 1)[0] if '\\"' in raw else raw  # groff comment
        if end_block is not None:
            if line.strip() == end_block or (line.startswith((".", "'")) and line[1:].split()[:1] == [end_block]):
                end_block = None
            continue
        if line.startswith((".", "'")):
            parts = line[1:].strip().split(None, 1)
            name = parts[0] if parts else ""
            rest = parts[1] if len(parts) > 1 else ""
            if name in _SKIP_BLOCK:
                flush()
                end_block = _SKIP_BLOCK[name]
            elif name in _BREAK:
                flush()
            elif name in _FONT:
                args = _macro_args(rest)
                joined = " ".join(args) if name in ("B", "I", "SM", "SB") else "".join(args)
                current.append(_groff_inline(joined))
            continue  # any other request (.TH, .de, .if, ...) carries no prose
        if not line.strip():
            flush()
            continue
        current.append(_groff_inline(line))
    flush()
    return paragraphs


def info_nodes(info: str) -> list[tuple[str, str]]:
    """(node name, body) of each node of a GNU info file (nodes start after a 0x1f byte with a
    'File: ..., Node: NAME, Next: ...' line); menus ('* Menu:' to the node's end) and footnote markers dropped."""
    nodes = []
    for chunk in info.split("\x1f")[1:]:
        header, _, body = chunk.lstrip("\n").partition("\n")
        m = re.search(r"Node: ([^,\n]+)", header)
        if not m or header.startswith("Tag Table") or header.startswith("End Tag Table"):
            continue
        body = body.split("\n* Menu:", 1)[0].split("---------- Footnotes ----------", 1)[0]
        body = re.sub(r"\*[Nn]ote\s+([^:]+?):(?::|\s*[^\s.,;:)]*[.,]?)", r"\1", body)  # '*note tarfile: fd.'
        body = re.sub(r"\(\d+\)", "", body)  # footnote markers
        # Underlines of headings (*****, ====, ----) are layout, not text.
        body = re.sub(r"^[*=\-.]{3,}\s*$", "", body, flags=re.MULTILINE)
        nodes.append((m.group(1).strip(), body))
    return nodes
