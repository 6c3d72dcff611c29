"""A framework plugged in from a package of its own gets full verdicts through
the ``conformance.adapters`` entry point alone.

The worked example ``examples/conformance-numpy-mirror`` (the numpy reference
driven by an adapter of its own, under the name ``mirror``, with its own
profile) is installed the way a user installs it: pip builds its wheel with its
own build backend and installs it into a directory on a child process's
``PYTHONPATH``, where :mod:`importlib.metadata` finds its dist-info and entry
point as it finds any installed distribution's. Nothing in this project names
the mirror: the only link is the entry point.

Then ``conformance frameworks`` lists it, and the catalogue run against it, by
``conformance run`` and by the pytest line a framework's CI uses, gives the
built-in reference's verdict for every clause but the two its profile
declares: its ``[unsupported]`` clause is not applicable with the profile's
reason, and its ``[[deviations]]`` clause is an expected violation.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.profile import load_profile
from conformance.spec import catalogue

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "conformance-numpy-mirror"
PROFILE = load_profile(EXAMPLE / "conformance_numpy_mirror" / "profile.toml")
# Few examples and one seed: the verdicts are compared, not the frameworks tested.
RUN = ["--max-examples", "5", "--seed", "20240611"]
TIMEOUT = 600


def _child_env(extra_path: Path | None) -> dict[str, str]:
    """This process's environment for a child that is a fresh session, not a
    part of this test run (no PYTEST_* from the outer pytest or xdist),
    with ``extra_path`` first on its ``PYTHONPATH``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    path = [str(extra_path) if extra_path else None, os.environ.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    return env


def _check(proc: subprocess.CompletedProcess[str], what: str, code: int = 0) -> str:
    assert proc.returncode == code, (
        f"{what}: exit status {proc.returncode}, expected {code}\n"
        f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    )
    return proc.stdout


def _python(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the installed example: its package and its
    ``conformance_numpy_mirror-0.1.0.dist-info`` (with ``entry_points.txt``)."""
    if importlib.util.find_spec("hatchling") is None:
        pytest.fail("the example builds with hatchling: pip install hatchling (the test extra has it)")
    target = tmp_path_factory.mktemp("site")
    # --no-build-isolation --no-index: no network; --no-deps: param-conformance is this process's.
    cmd = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
           "--no-build-isolation", "--no-index", "--target", str(target), str(EXAMPLE)]
    _check(_python(cmd, _child_env(None), target), "pip install of the example")
    assert (target / "conformance_numpy_mirror-0.1.0.dist-info" / "entry_points.txt").is_file()
    return target


@pytest.fixture(scope="module")
def env(site: Path) -> dict[str, str]:
    return _child_env(site)


@pytest.fixture(scope="module")
def reports(site: Path, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The three runs, side by side (they are independent): the built-in
    reference and the mirror by ``conformance run``, and the mirror by the
    pytest line of a framework's CI; each run's JSON report, by run name."""
    runs = {
        "reference": ["-m", "conformance.cli", "run", "--framework", "reference"],
        "mirror": ["-m", "conformance.cli", "run", "--framework", "mirror"],
        # from a directory of its own, like a framework's checkout
        "mirror-pytest": ["-m", "pytest", "-p", "no:cacheprovider", "--pyargs", "conformance.properties",
                          "--framework", "mirror"],
    }
    procs = {}
    for name, args in runs.items():
        where = tmp_path_factory.mktemp(name)
        out = where / "reports"
        procs[name] = (out, subprocess.Popen([sys.executable, *args, *RUN, "--report-dir", str(out)], env=env,
                                             cwd=where, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                             text=True))
    found = {}
    for name, (out, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
        _check(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), f"the {name} run")
        files = sorted(out.glob("conformance-*.json"))
        assert len(files) == 1, f"the {name} run wrote {files}"
        found[name] = json.loads(files[0].read_text(encoding="utf-8"))
    return found


def _verdicts(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["spec"]: r for r in report["results"]}


# -- found through the entry point --------------------------------------------------
def test_entry_point_is_the_installed_distribution_s(env: dict[str, str], site: Path, tmp_path: Path) -> None:
    code = (
        "import importlib.metadata as m\n"
        "(ep,) = [e for e in m.entry_points(group='conformance.adapters') if e.name == 'mirror']\n"
        "cls = ep.load()\n"
        "import inspect\n"
        "print(ep.dist.name, ep.dist.version, ep.value, inspect.getfile(cls), cls.name, sep='\\n')\n"
    )
    dist, version, value, file, name = _check(_python(["-c", code], env, tmp_path), "entry point").split()
    assert (dist, version, value, name) == (
        "conformance-numpy-mirror", "0.1.0", "conformance_numpy_mirror.adapter:MirrorAdapter", "mirror"
    )
    assert Path(file).resolve().is_relative_to(site.resolve()), f"the adapter came from {file}, not the site"


def test_frameworks_lists_the_mirror_once_installed(env: dict[str, str], tmp_path: Path) -> None:
    listed = _check(_python(["-m", "conformance.cli", "frameworks"], env, tmp_path), "conformance frameworks")
    lines = {line.split()[0]: line for line in listed.splitlines() if line.strip()}
    assert lines["mirror"].split()[1:] == ["installed", "0.1.0"], listed
    assert "reference" in lines
    bare = _check(_python(["-m", "conformance.cli", "frameworks"], _child_env(None), tmp_path), "without it")
    assert "mirror" not in bare.split(), "mirror is listed without the example installed"


# -- full verdicts ----------------------------------------------------------------------
@pytest.mark.parametrize("run", ["mirror", "mirror-pytest"])
def test_verdicts_are_the_reference_s_but_where_the_profile_says(reports: dict[str, Any], run: str) -> None:
    ref, mirror = reports["reference"], reports[run]
    assert mirror["framework"]["name"] == "mirror"
    assert mirror["framework"]["version"] == "0.1.0"  # conformance-numpy-mirror's, from its metadata
    assert mirror["seed"] == ref["seed"]
    want, got = _verdicts(ref), _verdicts(mirror)
    assert set(got) == set(want), "the mirror's report covers other clauses"
    (unsupported,) = PROFILE.unsupported
    (deviation,) = PROFILE.deviations
    declared = {unsupported, deviation.clause}
    assert all(r["expected"] for r in want.values()), "the reference run has unexpected verdicts"
    assert {c for c in want if want[c]["verdict"] == "holds"} >= declared

    # A clause requiring a capability the mirror's profile does not list (it
    # implements the reference's hooks of its 0.1.0 API only: no user-defined
    # layers, no parameter sharing between distinct layers, no copies or
    # in-memory state) is not applicable there, saying which.
    caps = PROFILE.facts.capabilities
    cat = catalogue()
    lacking = {c: sorted(set(cat[c].requires) - caps) for c in want if set(cat[c].requires) - caps}
    for c, missing in lacking.items():
        assert got[c]["verdict"] == "not-applicable", (c, got[c]["verdict"])
        assert missing[0].replace("_", " ") in got[c]["reason"], (c, got[c]["reason"])
    differ = {c: (want[c]["verdict"], got[c]["verdict"]) for c in want
              if c not in declared and c not in lacking and want[c]["verdict"] != got[c]["verdict"]}
    assert not differ, f"verdicts (reference, mirror) that the mirror's profile does not explain: {differ}"
    assert all(got[c]["expected"] for c in got), [c for c in got if not got[c]["expected"]]
    for c in set(got) - declared:
        assert got[c]["known_deviation"] is None

    # [unsupported]: not applicable, not run, with the profile's reason
    na = got[unsupported]
    assert na["verdict"] == "not-applicable"
    assert PROFILE.unsupported[unsupported] in na["reason"]
    assert all(t["outcome"] == "skipped" for t in na["tests"])

    # [[deviations]]: the clause ran, failed, and the failure was expected
    dev = got[deviation.clause]
    assert dev["verdict"] == "violated"
    assert dev["known_deviation"]["reason"] == deviation.reason
    assert dev["known_deviation"]["versions"] == deviation.versions
    assert dev["evidence"]["message"], "the expected violation carries no evidence"

    assert mirror["summary"]["unexpected"] == 0
    assert mirror["stale_deviations"] == []
