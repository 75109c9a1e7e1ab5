"""Checks that ``import pp`` (and ``import ppft``, for pathos) reach ppgo.

ppgo, upstream pp and ppft all install a top-level ``pp`` package, and pip
lets the last one installed overwrite the others' files without a word:
every script then runs on whichever won, or on a mix. This looks at what
is installed, says who owns ``pp`` and ``ppft``, lists files of ppgo that
another distribution overwrote or mixed in, and says how to repair it
(docs/PATHOS.md). Exit status 0 when all is well, 1 when not.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.metadata as metadata
import importlib.util
import os
import sys
from pathlib import Path
from typing import NamedTuple

REPAIR = ("To repair: pip uninstall -y {dists}; then pip install --force-reinstall --no-deps "
          "the ppgo wheel (for pathos, install ppgo's ppft stand-in before pathos: see "
          "docs/PATHOS.md in ppgo).")


class Finding(NamedTuple):
    ok: bool
    text: str
    culprits: tuple[str, ...] = ()  # distributions to uninstall


def owners(relative: str) -> list[str]:
    """The installed distributions whose RECORD lists relative (a path
    inside site-packages, with / separators)."""
    found = []
    for dist in metadata.distributions():
        for file in dist.files or ():
            if str(file).replace(os.sep, "/") == relative:
                found.append("%s %s" % (dist.metadata["Name"], dist.version))
                break
    return found


def package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def check_pp() -> list[Finding]:
    """Whose pp is imported, and whether ppgo's files are intact."""
    directory = package_dir("pp")
    if directory is None:
        return [Finding(False, "pp: not importable from %s" % sys.executable)]
    try:
        ppgo = metadata.distribution("ppgo")
    except metadata.PackageNotFoundError:
        owner = ", ".join(owners("pp/__init__.py")) or "an unknown distribution"
        return [Finding(False, "pp: %s comes from %s; ppgo is not installed"
                               % (directory, owner))]
    findings = []
    site = Path(str(ppgo.locate_file("")))
    records = [file for file in ppgo.files or () if file.parts[0] == "pp"]
    changed = [str(file) for file in records if file.hash is not None and not intact(site, file)]
    if changed:
        findings.append(problem("%d of ppgo's files were overwritten" % len(changed), changed))
    ours = {file.parts[1] for file in records if len(file.parts) > 1}
    mixed = sorted(entry for entry in os.listdir(directory)
                   if entry not in ours and entry != "__pycache__")
    if mixed:
        findings.append(problem("files of other distributions are mixed into ppgo's pp "
                                "package", ["pp/" + entry for entry in mixed]))
    if not findings:
        findings.append(Finding(True, "pp: ppgo %s, intact, at %s" % (ppgo.version, directory)))
    return findings


def intact(site: Path, file: metadata.PackagePath) -> bool:
    """Whether an installed file still has the hash its RECORD says."""
    assert file.hash is not None
    try:
        data = (site / file).read_bytes()
    except OSError:
        return False
    digest = base64.urlsafe_b64encode(hashlib.new(file.hash.mode, data).digest())
    return digest.rstrip(b"=").decode() == file.hash.value


def problem(what: str, files: list[str]) -> Finding:
    """A finding about files of ppgo's pp that others own, with who and the fix."""
    others = sorted({owner for f in files for owner in owners(f) if not owner.startswith("ppgo ")})
    return Finding(False, "pp: %s by %s: %s" % (
        what, ", ".join(others) or "another installation", ", ".join(files)),
        tuple(owner.split()[0] for owner in others))


def check_ppft() -> list[Finding]:
    """Whether pathos's ``import ppft`` reaches ppgo."""
    if package_dir("ppft") is None:
        return [Finding(True, "ppft: not installed (pathos needs ppgo's ppft stand-in: "
                              "see docs/PATHOS.md)")]
    try:
        version = metadata.version("ppft")
    except metadata.PackageNotFoundError:
        version = "unknown"
    if version.endswith("+ppgo"):
        return [Finding(True, "ppft: ppgo's stand-in %s (pathos runs on ppgo)" % version)]
    return [Finding(False, "ppft: uqfoundation's ppft %s: pathos runs on it, not on ppgo"
                           % version, ("ppft",))]


def check_core() -> list[Finding]:
    try:
        importlib.import_module("pp._core")
    except Exception as exc:
        return [Finding(False, "core: pp._core does not load: %s" % exc)]
    return [Finding(True, "core: pp._core loads")]


def main() -> int:
    findings = check_pp()
    if all(f.ok for f in findings):
        findings += check_core()
    findings += check_ppft()
    for finding in findings:
        print(("ok      " if finding.ok else "PROBLEM ") + finding.text)
    if all(f.ok for f in findings):
        return 0
    culprits = sorted({name for f in findings for name in f.culprits})
    print(REPAIR.format(dists=" ".join(culprits) or "<the distribution named above>"))
    return 1
