"""Pinned Debian 12 (bookworm) packages that carry real English text and labelled text, and `fetch_deb`, which
downloads one with `apt-get download`, checks its SHA-256 and extracts its data archive (docs/offline-data.md).

A .deb is an `ar` archive (deb(5)): `debian-binary`, `control.tar.*`, `data.tar.*`. We parse the `ar` layer in
Python and read the data archive with `tarfile` (xz, gzip, bzip2 or none: every pinned package uses xz);
a zstd data archive, which Python 3.11 cannot read, falls back to `dpkg-deb -x` when that exists.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from saesanity.atomic import atomic_path
from saesanity.data.offline.pypi import sha256_of


@dataclass(frozen=True)
class DebPin:
    """One Debian binary package at an exact version, with the SHA-256 of its .deb as measured here."""

    name: str
    version: str
    sha256: str
    licence: str
    use: str
    """What the pipeline reads from it."""

    @property
    def folder(self) -> str:
        """`<name>_<version>` with the epoch's ':' written '%3a', as apt names its files."""
        return f"{self.name}_{self.version.replace(':', '%3a')}"


# Versions are what `apt-cache policy` offers on Debian 12 (bookworm and bookworm-security); the SHA-256 of each
# .deb was measured after `apt-get download` and equals the archive's Packages index.
PINS: dict[str, DebPin] = {p.name: p for p in (
    DebPin("dict-gcide", "0.48.5+nmu2", "7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f",
           "GPL-2+", "GCIDE dictionary entries (usr/share/dictd/gcide.dict.dz, gcide.index): English corpus"),
    DebPin("wordnet-base", "1:3.0-37", "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752",
           "WordNet 3.0 licence", "synset glosses (usr/share/wordnet/data.*): English corpus, topic and "
           "profession probing sets"),
    DebPin("python3.11-doc", "3.11.2-6+deb12u9", "5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be",
           "PSF-2.0", "the Python 3.11 manual as an info file (usr/share/info/python3.11.info.gz): English corpus"),
    DebPin("fortunes", "1:1.99.1-7.3", "41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5",
           "BSD-4-clause and various (debian/copyright)", "fortune cookies (usr/share/games/fortunes): English "
           "corpus"),
    DebPin("manpages", "6.03-2", "efa1ba4cd19ad7baeae959c9209a7eb74be2ebb858bcabb412597bfc9f588c91",
           "GPL-2+, BSD and others (man-pages project)", "English man pages: language probing set (en)"),
    DebPin("manpages-de", "4.18.1-1", "37d2e7ee51f22952aecec3af93647ff59194a3c74bb7a694560f49c7f7ab3978",
           "GPL-3+", "German translations of man pages: language probing set (de)"),
    DebPin("manpages-fr", "4.18.1-1", "ec29759cc0e4a44dc7719c1e32869d0060667049e584f09556f0d982b969ea33",
           "GPL-3+", "French translations of man pages: language probing set (fr)"),
    DebPin("manpages-es", "4.18.1-1", "d21e9f85e487f149ae45b5c525b2b1a70ae7fd38d4b05b47c8753042c66f4c2b",
           "GPL-3+", "Spanish translations of man pages: language probing set (es)"),
    DebPin("manpages-it", "4.18.1-1", "4b18e87cc1b6a930d40949ddc86fb8e84b50da1a862cd17e2a504eeb8e3b4e48",
           "GPL-3+", "Italian translations of man pages: language probing set (it)"),
)}


def pin_of_folder(folder: str) -> DebPin:
    """The pin whose extracted folder is named `folder` (`<name>_<version>`, as rule debian_package's output)."""
    for pin in PINS.values():
        if pin.folder == folder:
            return pin
    raise KeyError(f"no pinned Debian package has the folder {folder!r}; pinned: {[p.folder for p in PINS.values()]}")


class DebianUnavailable(RuntimeError):
    """apt-get is missing, or cannot download the pinned version; the message names the fix."""


class DebHashMismatch(RuntimeError):
    """A downloaded .deb is not the pinned file."""


def fetch_deb(pin: DebPin, cache_dir: str | Path) -> Path:
    """The extracted files of `pin` under `<cache_dir>/<name>_<version>/` (the package's own paths below it,
    e.g. usr/share/wordnet/data.noun). Downloads the .deb into `cache_dir` unless a copy with the pinned
    SHA-256 is there; a folder that already exists is used as is (extraction renames a finished temporary
    folder onto it, and a user without apt may have put the files there by hand)."""
    cache_dir = Path(cache_dir)
    target = cache_dir / pin.folder
    if target.is_dir():
        return target
    deb = cache_dir / f"{pin.folder}_all.deb"
    if not (deb.exists() and sha256_of(deb) == pin.sha256):
        _download(pin, deb)
    got = sha256_of(deb)
    if got != pin.sha256:
        raise DebHashMismatch(f"{deb}: SHA-256 {got}, but {pin.name}={pin.version} is pinned to {pin.sha256}. "
                              f"The archive served another file under that version: delete {deb} and check "
                              f"your apt sources (`apt-cache show {pin.name}={pin.version}` lists its SHA256).")
    with atomic_path(target) as tmp:
        extract_deb(deb, tmp)
    return target


def _download(pin: DebPin, deb: Path) -> None:
    by_hand = (f"install {pin.name} version {pin.version} by hand and put its files under "
               f"{deb.parent / pin.folder}/ (the package's paths below it, e.g. what `dpkg-deb -x` writes), "
               f"or use your own text (offline_text.english.own_text: a folder of .txt files, one document each)")
    if shutil.which("apt-get") is None:
        raise DebianUnavailable(f"not a Debian-based system (no apt-get): {by_hand}.")
    deb.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=deb.parent, prefix=f".download-{pin.name}-") as tmp:
        # apt-get download writes into its working directory, named <name>_<version with %3a>_<arch>.deb.
        run = subprocess.run(["apt-get", "download", f"{pin.name}={pin.version}"], cwd=tmp,
                             capture_output=True, text=True)
        got = sorted(Path(tmp).glob(f"{pin.name}_*.deb"))
        if run.returncode != 0 or len(got) != 1:
            detail = " ".join(run.stderr.split())[-400:]
            raise DebianUnavailable(
                f"`apt-get download {pin.name}={pin.version}` failed ({detail}). If the version is not "
                f"available, run `apt-get update` (as root) and check that `apt-cache policy {pin.name}` offers "
                f"{pin.version} (Debian 12 bookworm does); on another release {by_hand}.")
        got[0].replace(deb)


def extract_deb(deb: Path, dest: Path) -> None:
    """Extracts the regular files and folders of the .deb's data archive into `dest` (links and devices are
    skipped: the pipeline reads only files, and a link may point outside `dest`)."""
    members = read_ar(deb.read_bytes())
    data = [name for name in members if name.startswith("data.tar")]
    if len(data) != 1:
        raise ValueError(f"{deb}: not a .deb (ar members {sorted(members)}; expected one data.tar.*)")
    name = data[0]
    dest.mkdir(parents=True, exist_ok=True)
    if name.endswith(".zst"):
        _extract_zst(deb, dest)
        return
    with tarfile.open(fileobj=io.BytesIO(members[name]), mode="r:*") as tar:
        files = [m for m in tar.getmembers() if m.isreg() or m.isdir()]
        # The 'data' filter (Python >= 3.11.4) also refuses absolute paths and '..'; older Pythons lack it.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(dest, members=files, **safe)


def _extract_zst(deb: Path, dest: Path) -> None:
    # Python 3.11's tarfile has no zstd; dpkg-deb has it on every Debian system that makes such packages.
    if shutil.which("dpkg-deb") is None:
        raise DebianUnavailable(f"{deb}: its data archive is zstd-compressed, which Python cannot read here; "
                                f"install dpkg (dpkg-deb) or extract it by hand into {dest}")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True, capture_output=True)
    for path in sorted(dest.rglob("*"), reverse=True):
        if path.is_symlink():
            path.unlink()


AR_MAGIC = b"!<arch>\n"
AR_HEADER = 60


def read_ar(blob: bytes) -> dict[str, bytes]:
    """Members of a common-format `ar` archive (name -> bytes): 60-byte headers, name in the first 16 bytes
    (GNU style may end it with '/'), decimal size at bytes 48-58, data padded to an even length."""
    if not blob.startswith(AR_MAGIC):
        raise ValueError("not an ar archive (no '!<arch>' magic)")
    members, pos = {}, len(AR_MAGIC)
    while pos + AR_HEADER <= len(blob):
        header = blob[pos:pos + AR_HEADER]
        if header[58:60] != b"`\n":
            raise ValueError(f"corrupt ar header at byte {pos}")
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        start = pos + AR_HEADER
        if start + size > len(blob):
            raise ValueError(f"ar member {name!r} is truncated")
        members[name] = blob[start:start + size]
        pos = start + size + (size % 2)
    return members
