"""The known-deviations file format."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.deviations import Deviation, DeviationError, load_deviations, parse_deviations

GOOD = """\
# clause-id | version-range | reason | link

init.default-uniform | >=2.0,<2.5 | bias bound uses fan_out | https://github.com/o/r/issues/1#L10
save.whole-model     | *          | no whole-model format    | https://docs.example/save   # trailing comment
"""


def test_parses_entries_skipping_comments_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "torch.txt"
    path.write_text(GOOD, encoding="utf-8")
    first, second = load_deviations(path)
    assert first == Deviation(
        "init.default-uniform",
        ">=2.0,<2.5",
        "bias bound uses fan_out",
        "https://github.com/o/r/issues/1#L10",
        str(path),
        3,
    )
    assert (second.clause, second.versions, second.link, second.line) == (
        "save.whole-model",
        "*",
        "https://docs.example/save",
        4,
    )


@pytest.mark.parametrize(
    ("versions", "installed", "expected"),
    [
        (">=2.0,<2.5", "2.1.0", True),
        (">=2.0,<2.5", "2.13.0+cpu", False),
        (">=2.13", "2.13.0+cpu", True),  # local build tag: compared as 2.13.0
        ("==2.13.0", "2.13.0+cu121", True),
        ("<2.14", "2.13.0rc1", True),  # pre-releases are versions too
        ("*", "anything-at-all", True),
        ("*", None, True),
        (">=1", None, False),
        (">=1", "not a version", False),
    ],
)
def test_matches_version_ranges(versions: str, installed: str | None, expected: bool) -> None:
    d = Deviation("area.name", versions, "r", "l")
    assert d.matches("area.name", installed) is expected
    assert d.matches("area.other", installed) is False


def test_a_backend_field_narrows_the_entry_to_that_backend() -> None:
    [d] = parse_deviations("area.name | >=3 | reason | https://x | tensorflow\n", "f")
    assert d.backend == "tensorflow"
    assert d.matches("area.name", "3.1", "tensorflow")
    assert not d.matches("area.name", "3.1", "jax") and not d.matches("area.name", "3.1")
    assert not d.matches("area.name", "2.15", "tensorflow")
    assert d.as_dict()["versions"] == ">=3 on tensorflow"
    [plain] = parse_deviations("area.name | * | reason | https://x\n", "f")
    assert plain.backend is None and plain.matches("area.name", "1", "jax")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("area.name | * | reason", "expected 4 '|'-separated fields"),
        ("area.name | * | reason | link | tensorflow | extra", "got 6"),
        ("area.name | * | reason | link | ", "empty backend"),
        ("area.name | * |  | link", "empty reason"),
        ("area.name |  | reason | link", "empty version-range"),
        ("area.name | * | reason | ", "empty link"),
        ("Area Name | * | reason | link", "'Area Name' is not a clause id"),
        ("nodot | * | reason | link", "'nodot' is not a clause id"),
        ("area.name | >=two | reason | link", "'>=two' is not a PEP 440 version range"),
    ],
)
def test_bad_lines_name_file_line_and_problem(line: str, problem: str) -> None:
    text = f"# header\n\n{line}\n"
    with pytest.raises(DeviationError) as info:
        parse_deviations(text, "xfails/torch.txt")
    msg = str(info.value)
    assert msg.startswith("xfails/torch.txt:3: ")
    assert problem in msg
    assert info.value.line == 3


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DeviationError, match="cannot read"):
        load_deviations(tmp_path / "nope.txt")


def test_empty_file_has_no_entries() -> None:
    assert parse_deviations("# nothing yet\n\n", "f") == []


@pytest.mark.parametrize("name", ["reference", "torch", "keras", "mxnet", "flax", "paddle"])
def test_shipped_deviation_files_parse_and_name_clauses_of_their_framework(name: str) -> None:
    from conformance.adapters import adapter_class
    from conformance.spec import catalogue

    path = adapter_class(name).deviations_file()
    if path is None:
        pytest.skip(f"{name} ships no known deviations")
    cat = catalogue()
    for d in load_deviations(path):
        assert d.clause in cat, f"{path}:{d.line}: unknown clause {d.clause}"
        assert name in cat[d.clause].frameworks, f"{path}:{d.line}: {d.clause} does not apply to {name}"
        assert d.link.startswith("https://"), f"{path}:{d.line}: the link must be the documentation's address"
