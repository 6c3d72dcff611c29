"""Releases of a framework on the package index, and one isolated
environment per release to run the catalogue in.

``conformance bisect`` and ``conformance cross-version`` need the framework
at releases other than the installed one. :class:`PipIndex` lists a
distribution's releases with pip's own machinery (``pip index versions``,
so the index, extra indexes and find-links pip is configured with); any
object with its ``versions`` method can stand in for it (the tests' fake
index). :func:`between` orders them (PEP 440, ``packaging``) and drops
pre-releases unless asked. :class:`Environments` makes a venv per (release,
backend) under a cache directory, outside the checkout, and reuses it: it
holds this checkout of param-conformance (built once into a wheel), the
release, and the requirements the framework's profile pins for it
(``[install]``), and runs ``conformance run`` there. Nothing here is
imported by a catalogue run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from packaging.version import InvalidVersion, Version

from conformance.profile import Profile

#: Where the environments live unless told otherwise: never inside a checkout.
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "conformance" / "envs"
MARKER = "conformance-env.json"  # written last: an environment without it is incomplete
TAIL = 3000  # characters of a failed command's output kept as the reason

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class ReleaseSource(Protocol):
    """Lists every release of a distribution (pre-releases included)."""

    def versions(self, distribution: str) -> list[str]: ...

    def describe(self) -> str: ...


class IndexError_(RuntimeError):
    """The index could not be read."""


class PipIndex:
    """``pip index versions --pre NAME`` of the Python running this: the
    releases pip itself would consider, from whatever index it is configured
    with. (pip lists only releases it has a candidate for on this Python.)"""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    def describe(self) -> str:
        return "pip index versions (the index pip is configured with)"

    def versions(self, distribution: str) -> list[str]:
        cmd = [self.python, "-m", "pip", "index", "versions", "--pre", distribution]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        for line in proc.stdout.splitlines():
            if line.startswith("Available versions:"):
                return [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
        raise IndexError_(
            f"`{' '.join(cmd[2:])}` listed no release (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-TAIL:]}"
        )


class FileIndex:
    """Releases listed in a JSON file, ``{distribution: [version, ...]}``: an
    index for offline use and for tests."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def describe(self) -> str:
        return f"the release list {self.path.name}"

    def versions(self, distribution: str) -> list[str]:
        try:
            listed = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexError_(f"cannot read {self.path}: {exc}") from None
        if not isinstance(listed, dict) or not isinstance(listed.get(distribution), list):
            raise IndexError_(f"{self.path} lists no releases of {distribution}")
        return [str(v) for v in listed[distribution]]


def between(versions: Iterable[str], first: str, last: str, *, pre: bool = False) -> list[str]:
    """The releases from ``first`` to ``last`` (both included), in PEP 440
    order, each once; pre-releases (and development releases) only with
    ``pre``, except an end named explicitly. Unparsable versions are dropped.
    ``ValueError`` when an end is not a release of the list or ``first`` is
    not older than ``last``."""
    parsed: dict[Version, str] = {}
    for v in versions:
        try:
            key = Version(v)
        except InvalidVersion:
            continue
        parsed.setdefault(key, v)
    lo, hi = Version(first), Version(last)
    for end, key in ((first, lo), (last, hi)):
        if key not in parsed:
            raise ValueError(f"{end} is not a release on the index")
    if not lo < hi:
        raise ValueError(f"{first} is not older than {last}")
    return [
        parsed[k] for k in sorted(parsed) if lo <= k <= hi and (pre or not k.is_prerelease or k in (lo, hi))
    ]


# -- this checkout, as the wheel every environment installs -----------------------


def checkout() -> Path | None:
    """The source tree this package runs from, where it is a checkout of
    param-conformance (``pip install .`` records it as well); None otherwise."""
    import conformance

    pkg = Path(conformance.__file__).resolve().parent
    root = pkg.parent
    project = root / "pyproject.toml"
    if project.is_file() and 'name = "param-conformance"' in project.read_text(encoding="utf-8"):
        return root
    try:
        import importlib.metadata

        text = importlib.metadata.distribution("param-conformance").read_text("direct_url.json")
    except Exception:
        return None
    if text:
        info = json.loads(text)
        url = str(info.get("url", ""))
        if url.startswith("file://") and "dir_info" in info:
            path = Path(url[len("file://") :])
            if (path / "pyproject.toml").is_file():
                return path
    return None


def fingerprint(root: Path) -> str:
    """A hash of what a wheel of ``root`` holds (the package, the catalogue,
    the project file): an environment built from another state reinstalls it."""
    h = hashlib.sha256()
    files = [
        root / "pyproject.toml",
        *sorted((root / "conformance").rglob("*")),
        *sorted((root / "specs").rglob("*")),
    ]
    for f in files:
        if f.is_file() and "__pycache__" not in f.parts and not f.name.endswith((".pyc", ".journal.jsonl")):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


# -- environments -----------------------------------------------------------------------


class InstallFailed(RuntimeError):
    """A release that will not install; the message holds pip's last words."""


@dataclass
class Observation:
    """What one run of the catalogue in one environment found."""

    framework: dict[str, Any]  # the report's framework block (version, backend, backend_version)
    results: dict[str, dict[str, Any]]  # clause id -> the report's result entry
    seconds: float = 0.0
    report: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Env:
    """One environment: a venv holding one release."""

    path: Path
    framework: str
    version: str
    backend: str | None
    requirements: list[str]
    environ: dict[str, str]
    installed: dict[str, str] = field(default_factory=dict)  # distribution -> version
    install_seconds: float = 0.0
    reused: bool = False

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def run(self, args: Sequence[str], log: Path, *, cwd: Path | None = None) -> int:
        """Run ``python args`` there, output to ``log``; returns the exit status."""
        env = {**os.environ, **self.environ}
        env.pop("PYTHONPATH", None)  # nothing from the caller's interpreter
        with open(log, "w", encoding="utf-8") as out:
            proc = subprocess.run(
                [str(self.python), *args], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, check=False
            )
        return proc.returncode


def _tail(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()[-TAIL:]
    except OSError:
        return ""


class Environments:
    """A cache of one venv per (framework, release, backend, requirements)."""

    def __init__(self, cache: Path, *, progress: Progress = _quiet, source: Path | None = None) -> None:
        self.cache = Path(cache).expanduser().resolve()
        self.progress = progress
        self.source = source
        self._wheel: tuple[Path, str] | None = None

    def _self_wheel(self) -> tuple[Path, str]:
        """This checkout as a wheel (built once per state of the checkout)."""
        if self._wheel is not None:
            return self._wheel
        root = self.source or checkout()
        if root is None:
            raise InstallFailed(
                "this param-conformance is not a checkout (nor installed from one): run it from a checkout, "
                "whose code every environment installs"
            )
        fp = fingerprint(root)
        out = self.cache / "self" / fp
        wheels = sorted(out.glob("param_conformance-*.whl"))
        if not wheels:
            self.progress(f"building a wheel of {root}")
            out.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(root)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            wheels = sorted(out.glob("param_conformance-*.whl"))
            if proc.returncode or not wheels:
                raise InstallFailed(f"cannot build a wheel of {root}: {(proc.stderr or proc.stdout)[-TAIL:]}")
        self._wheel = (wheels[-1], fp)
        return self._wheel

    def key(self, profile: Profile, version: str, backend: str | None) -> tuple[str, list[str]]:
        reqs = [f"{profile.distribution}=={version}", *profile.install.requirements(version, backend)]
        ident = json.dumps([sys.version_info[:2], profile.name, version, backend, reqs])
        digest = hashlib.sha256(ident.encode()).hexdigest()[:10]
        name = "-".join(x for x in (profile.name, version, backend or "", digest) if x)
        return re.sub(r"[^A-Za-z0-9._+-]", "_", name), reqs

    def get(self, profile: Profile, version: str, backend: str | None) -> Env:
        """The environment of ``version`` (on ``backend``), made or reused.
        :class:`InstallFailed` if it will not install (nothing is left behind)."""
        refusal = profile.install.refusal(version)
        if refusal:
            raise InstallFailed(f"{profile.name} {version}: {refusal}")
        environ = dict(profile.install.backends.get(backend, {})) if backend else {}
        name, reqs = self.key(profile, version, backend)
        path = self.cache / name
        wheel, fp = self._self_wheel()
        env = Env(path, profile.name, version, backend, reqs, environ)
        marker = path / MARKER
        if marker.is_file():
            info = json.loads(marker.read_text(encoding="utf-8"))
            env.installed, env.reused = info.get("installed", {}), True
            if info.get("self") != fp:  # the checkout changed: only param-conformance is reinstalled
                self.progress(f"{name}: reinstalling this checkout")
                log = path / "install.log"
                if env.run(["-m", "pip", "install", "--no-deps", "--force-reinstall", str(wheel)], log):
                    raise InstallFailed(f"reinstalling param-conformance failed: {_tail(log)}")
                info["self"] = fp
                marker.write_text(json.dumps(info, indent=2), encoding="utf-8")
            return env
        if path.exists():
            shutil.rmtree(path)  # an install that never finished
        started = time.monotonic()
        self.progress(f"{name}: creating the venv and installing {' '.join(reqs)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        made = subprocess.run(
            [sys.executable, "-m", "venv", str(path)], capture_output=True, text=True, check=False
        )
        log = self.cache / f"{name}.install.log"
        if made.returncode == 0:
            code = env.run(["-m", "pip", "install", "--disable-pip-version-check", str(wheel), *reqs], log)
        else:
            log.write_text(made.stderr, encoding="utf-8")
            code = made.returncode
        if code:
            reason = _tail(log)
            shutil.rmtree(path, ignore_errors=True)
            raise InstallFailed(f"pip could not install {' '.join(reqs)}: {reason}")
        freeze = subprocess.run(
            [str(env.python), "-m", "pip", "list", "--format", "json"],
            capture_output=True,
            text=True,
            check=False,
        )
        listed = json.loads(freeze.stdout or "[]")
        env.installed = {d["name"]: d["version"] for d in listed}
        env.install_seconds = time.monotonic() - started
        shutil.move(str(log), str(path / "install.log"))
        info = {
            "framework": profile.name,
            "version": version,
            "backend": backend,
            "requirements": reqs,
            "installed": env.installed,
            "self": fp,
            "seconds": round(env.install_seconds, 1),
        }
        marker.write_text(json.dumps(info, indent=2), encoding="utf-8")
        return env


def run_catalogue(
    env: Env, *, tests: Sequence[str] | None, seed: int, max_examples: int, extra: Sequence[str] = ()
) -> Observation:
    """``conformance run`` in ``env``, restricted to the property tests
    ``tests`` (by name; None for the whole catalogue); the report it writes.
    ``InstallFailed`` if the run left no report (the release cannot run the
    suite at all: an import error, a crash before planning)."""
    with tempfile.TemporaryDirectory(prefix="conformance-probe-") as tmp:
        args = [
            "-m",
            "conformance.cli",
            "run",
            "--framework",
            env.framework,
            "--report-dir",
            tmp,
            "--seed",
            str(seed),
            "--max-examples",
            str(max_examples),
            *extra,
        ]
        if tests:
            args += ["-k", " or ".join(tests)]
        log = env.path / "last-run.log"
        started = time.monotonic()
        code = env.run(args, log, cwd=Path(tmp))
        seconds = time.monotonic() - started
        reports = sorted(Path(tmp).glob("conformance-*.json"))
        if not reports:
            raise InstallFailed(
                f"`conformance run` in {env.path.name} wrote no report (exit {code}): {_tail(log)}"
            )
        report = json.loads(reports[0].read_text(encoding="utf-8"))
    return Observation(report["framework"], {r["spec"]: r for r in report["results"]}, seconds, report)


def clause_tests(clauses: Iterable[str]) -> list[str]:
    """The names of the catalogue's property tests that carry a ``clause``
    marker for any of ``clauses`` (for ``conformance run -k``). ``-k`` matches
    substrings, so a run may hold a few more tests; only these clauses' verdicts
    are read, and each is complete."""
    import importlib
    import pkgutil

    import conformance.properties as props

    wanted, out = set(clauses), []
    for mod in pkgutil.iter_modules(props.__path__):
        if not mod.name.startswith("test_"):
            continue
        module = importlib.import_module(f"conformance.properties.{mod.name}")
        for name, fn in vars(module).items():
            if not name.startswith("test_") or not callable(fn):
                continue
            marks = getattr(fn, "pytestmark", [])
            if any(m.name == "clause" and wanted & set(m.args) for m in marks):
                out.append(name)
    return sorted(out)


def describe_installed(installed: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The versions of ``names`` (normalised distribution names) among ``installed``."""
    norm = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in installed.items()}
    return {n: norm[key] for n in names if (key := re.sub(r"[-_.]+", "-", n).lower()) in norm}
