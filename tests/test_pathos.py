"""pathos on ppgo: installed by the recipe of docs/PATHOS.md (ppgo, its
ppft stand-in, then pathos), ParallelPool gives the same results as pathos
on uqfoundation's ppft, pathos's own ParallelPool tests pass, and the
environment holds ppgo's pp, not ppft's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import pp
import reference

pytestmark = pytest.mark.skipif(getattr(pp, "__distribution__", None) != "ppgo",
                                reason="installs the ppgo wheel")

SCRIPTS = Path(__file__).resolve().parent / "pathos_scripts"

# pathos's tests that use ParallelPool (shipped in its wheel as pathos.tests).
# test_decorate is left out: its ParallelPool case maps a closure, whose
# free variables no source-shipping pp can send; it fails on ppft too.
PATHOS_TESTS = ["test_pp.py", "test_map.py", "test_join.py", "test_random.py",
                "test_with.py", "test_star.py"]


def _reference(make, *args):
    try:
        return make(*args)
    except Exception as exc:
        pytest.fail("a pathos venv could not be made (%s): %s" % (reference.HOW, exc))


@pytest.fixture(scope="session")
def on_ppgo(tmp_path_factory):
    return _reference(reference.pathos_on_ppgo_python, tmp_path_factory.mktemp("pathos-ppgo"))


@pytest.fixture(scope="session")
def on_ppft():
    return _reference(reference.pathos_on_ppft_python)


def python_says(python: Path, code: str) -> str:
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_recipe_keeps_ppgo_in_place(on_ppgo):
    said = python_says(on_ppgo, "import pp, ppft, pp._task; "
                                "print(pp.__distribution__, ppft._Task is pp._task.Task, "
                                "ppft.Server is pp.Server)")
    assert said == "ppgo True True"
    check = subprocess.run([str(on_ppgo), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    doctor = subprocess.run([str(on_ppgo), "-m", "ppgo"], capture_output=True, text=True)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "ppft: ppgo's stand-in" in doctor.stdout


def test_parallel_pool_matches_ppft(on_ppgo, on_ppft, tmp_path):
    script = SCRIPTS / "parallel_pool.py"
    ours = reference.run(on_ppgo, script, tmp_path)
    theirs = reference.run(on_ppft, script, tmp_path)
    assert ours.returncode == 0, ours.stderr
    assert theirs.returncode == 0, theirs.stderr
    assert ours.stdout.splitlines()[0] == "map [0, 1, 8, 27, 64, 125, 216, 343, 512, 729]"
    assert ours.stdout == theirs.stdout


@pytest.mark.parametrize("name", PATHOS_TESTS)
def test_pathos_own_tests(on_ppgo, name, tmp_path):
    tests = Path(python_says(on_ppgo, "import pathos.tests, os; "
                                      "print(os.path.dirname(pathos.tests.__file__))"))
    proc = subprocess.run([str(on_ppgo), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tests / name)], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
