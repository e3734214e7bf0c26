"""The manual holds together: every page of docs/ is reachable from README.md, every link resolves (file and
heading), and every repository file a page names in backticks exists."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "profiles/slurm/README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# A backticked path into the repository: a top-level folder or file, or a package path as the pages write
# it (saesanity/..., rules/..., schemas/... stand below workflow/). Outputs (results/...) and patterns with
# placeholders (<name>, {source}, *) are not files of the repository.
TICKED = re.compile(r"`((?:workflow|tests|benchmarks|presets|envs|profiles|docs|saesanity|rules|schemas|report)"
                    r"/[A-Za-z0-9_./-]+|[A-Za-z_]+\.(?:md|yaml|toml))`")
BELOW_WORKFLOW = ("saesanity/", "rules/", "schemas/", "report/")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", text, re.M)}


def _links(page: Path) -> list[str]:
    return [m for m in LINK.findall(page.read_text()) if not m.startswith(("http://", "https://"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_links_resolve(page):
    for link in _links(page):
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        assert path.exists(), f"{page.name}: {link} does not exist"
        if anchor:
            assert anchor in _anchors(path), f"{page.name}: {link}: no heading with that anchor"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_named_files_exist(page):
    for name in TICKED.findall(page.read_text()):
        if "/." in name:  # a hidden folder a script creates (benchmarks/.venv-saelens): never tracked
            continue
        path = REPO / "workflow" / name if name.startswith(BELOW_WORKFLOW) else REPO / name
        if "/" not in name and not path.exists():  # a bare file name: the page's folder or the repository root
            path = page.parent / name
        assert path.exists(), f"{page.name}: `{name}` is not a file or folder of the repository"


def _resolves(dotted: str) -> bool:
    """saesanity.a.b.c names a module, or an attribute of the longest module prefix."""
    parts = dotted.split(".")
    if parts[1] == "__main__":  # importing it runs the CLI
        return len(parts) == 2
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_named_python_objects_exist(page):
    names = set(re.findall(r"(?<![\w/.-])saesanity(?:\.[A-Za-z_]\w*)+", page.read_text()))
    assert not [n for n in sorted(names) if not _resolves(n)], f"{page.name}: not in the package"


def test_every_docs_page_is_reachable_from_the_readme():
    seen, todo = set(), [REPO / "README.md"]
    while todo:
        page = todo.pop()
        if page in seen or page.suffix != ".md":
            continue
        seen.add(page)
        todo += [(page.parent / link.partition("#")[0]).resolve() for link in _links(page) if link.partition("#")[0]]
    missing = [p.relative_to(REPO) for p in PAGES if p not in seen]
    assert not missing, f"not linked from README.md (directly or through another page): {missing}"


def test_readme_is_one_screen_of_purpose():
    assert len((REPO / "README.md").read_text().splitlines()) < 200


def test_no_file_points_outside_the_repository():
    """The repository stands on its own: no tracked text file names the design notes it was built from."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile(r"\.\./shared|\bPAPERS\.md|\bDESIGN\.md")
    offenders = [f for f in files if f != "tests/test_docs.py" and (REPO / f).suffix in
                 {".py", ".md", ".yaml", ".smk", ".rst", ".toml", ".txt", ""}
                 and (REPO / f).is_file() and outside.search((REPO / f).read_text(errors="ignore"))]
    assert not offenders, f"files that point outside the repository: {offenders}"
