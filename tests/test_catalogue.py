"""The spec catalogue: the loader (good and bad files), the sources' fidelity to
the seed documents, and the link between clauses and property tests."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import conformance.properties
from conformance.adapters import known_frameworks
from conformance.frameworks import builtin_profiles
from conformance.profile import CAPABILITIES, FACT_FIELDS
from conformance.spec import SpecError, catalogue, load_catalogue, parse_file

PROPERTIES = Path(conformance.properties.__file__).parent
SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
SEED_FILES = {
    "000_687ba7a722c4a7e3.txt",
    "001_3659ca28e40ac9ce.txt",
    "002_94619b9e91fd0f87.txt",
    "003_b23f146c476ea113.txt",
    "004_f2aec050cfcec49b.txt",
}

GOOD = """# Area

```clause
id: area.good
title: A good clause
statement: The thing MUST hold.
requires: [grad_slot]
sources:
  - {document: 001_3659ca28e40ac9ce.txt, section: "5.2.1", quote: "net[2]"}
```
"""


def _clause_markers() -> dict[str, list[str]]:
    """clause id -> the property tests that name it, read from the source."""
    found: dict[str, list[str]] = {}
    for path in sorted(PROPERTIES.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                for dec in node.decorator_list:
                    if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)
                            and dec.func.attr == "clause"):
                        for arg in dec.args:
                            found.setdefault(ast.literal_eval(arg), []).append(f"{path.name}::{node.name}")
    return found


# -- the shipped catalogue ------------------------------------------------------
def test_shipped_catalogue_loads_with_a_version():
    cat = catalogue()
    assert re.fullmatch(r"\d+\.\d+\.\d+", cat.version)
    assert len(cat) >= 40
    assert {"access", "naming", "default-init", "builtin-init", "custom-init", "assignment", "deferred",
            "tied", "serialisation", "seeding", "compute"} <= set(cat.areas())


def test_every_clause_names_known_capabilities_facts_and_seed_documents():
    for c in catalogue():
        assert set(c.requires) <= CAPABILITIES, (c.id, c.requires)
        assert set(c.facts) <= set(FACT_FIELDS), (c.id, c.facts)
        for s in c.sources:
            assert s.document in SEED_FILES, (c.id, s.document)


def test_every_seed_document_is_cited():
    cited = {s.document for c in catalogue() for s in c.sources}
    assert cited == SEED_FILES, f"never cited: {SEED_FILES - cited}"


@pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed documents not found at {SEEDS}")
def test_quotes_and_sections_are_in_the_seed_documents():
    """Every quote is verbatim (fragments joined by ' ... ' or ' → ', whitespace
    ignored) and every section heading occurs in the document it cites."""

    def norm(s: str) -> str:
        return re.sub(r"\s+", "", s)

    texts = {name: norm((SEEDS / name).read_text(encoding="utf-8")) for name in SEED_FILES}
    missing = []
    for c in catalogue():
        for s in c.sources:
            for frag in re.split(r" → | \.\.\.(?= |$)", s.quote):
                if norm(frag) not in texts[s.document]:
                    missing.append((c.id, s.document, frag))
            if not s.section.startswith("(") and norm(s.section) not in texts[s.document]:
                missing.append((c.id, s.document, f"section {s.section}"))
    assert not missing, "\n".join(map(str, missing))


def test_every_clause_is_enforced_by_a_property_and_every_property_names_a_clause():
    markers = _clause_markers()
    ids = {c.id for c in catalogue()}
    assert ids - set(markers) == set(), f"clauses without a property: {sorted(ids - set(markers))}"
    assert set(markers) - ids == set(), f"properties naming unknown clauses: {sorted(set(markers) - ids)}"
    for path in PROPERTIES.glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names = [getattr(d.func, "attr", "") for d in node.decorator_list if isinstance(d, ast.Call)]
                assert "clause" in names, f"{path.name}::{node.name} names no clause"


def test_statistical_clauses_have_statistical_tests():
    stat_tests: set[str] = set()
    for path in PROPERTIES.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                decs = {
                    getattr(d.func, "attr", ""): d for d in node.decorator_list if isinstance(d, ast.Call)
                }
                if "statistical" in decs and "clause" in decs:
                    stat_tests.update(ast.literal_eval(a) for a in decs["clause"].args)
    declared = {c.id for c in catalogue() if c.statistical}
    assert declared == stat_tests, f"declared statistical: {sorted(declared ^ stat_tests)} differ"


def test_no_framework_name_inside_properties():
    """Per-framework differences live in adapters and clause params, never as
    `if adapter.name == ...` in a property."""
    names = "|".join(sorted(set(builtin_profiles()) | {"tensorflow", "tf", "jax", "gluon", "mx"}))
    pattern = re.compile(rf"""(["']({names})["'])|\b(import|from)\s+({names})\b""")
    for path in PROPERTIES.glob("*.py"):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            assert not pattern.search(code), f"{path.name}:{i} names a framework: {line.strip()}"


def test_every_attributed_clause_is_attributed_somewhere():
    """An attributed clause no profile attributes would never run anywhere."""
    for c in catalogue():
        if c.attributed:
            assert any(c.id in p.attributed for p in builtin_profiles().values()), c.id


def test_no_clause_text_names_a_framework_profile_field():
    """The spec files hold no per-framework data: what was `frameworks:` and
    `params:` is in the profiles."""
    for path in (Path(__file__).resolve().parents[1] / "specs").glob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^(frameworks|params):", text, re.M), path.name


def test_registry_lists_builtin_frameworks():
    assert {"reference", "torch"} <= set(known_frameworks())


# -- the loader on bad files ----------------------------------------------------
def _write(tmp_path: Path, body: str, name: str = "area.md") -> Path:
    (tmp_path / "README.md").write_text('---\ncatalogue_version: "0.0.1"\n---\n', encoding="utf-8")
    (tmp_path / name).write_text(body, encoding="utf-8")
    return tmp_path


def test_good_file_parses(tmp_path):
    cat = load_catalogue(_write(tmp_path, GOOD))
    [c] = cat.clauses
    assert c.id == "area.good" and c.requires == ("grad_slot",) and c.facts == () and not c.attributed


@pytest.mark.parametrize(
    "change, field",
    [
        (("title: A good clause\n", ""), "title"),
        (("id: area.good", "id: Area Good"), "id"),
        (("id: area.good", "id: other.good"), "id"),
        (("The thing MUST hold.", "The thing holds."), "statement"),
        (("requires: [grad_slot]", "requires: [telepathy]"), "requires"),
        (("requires: [grad_slot]", "requires: grad_slot"), "requires"),
        (("sources:", "facts: [colour]\nsources:"), "facts"),
        (("sources:", "attributed: sometimes\nsources:"), "attributed"),
        (("sources:", "frameworks: {torch: '*'}\nsources:"), "frameworks"),
        (("quote: \"net[2]\"", "quote: \"\""), "sources[0]"),
        (("sources:", "colour: red\nsources:"), "colour"),
        (("sources:", "params: {keras: {layout: in_out}}\nsources:"), "params"),
        (("sources:", "statistical: maybe\nsources:"), "statistical"),
    ],
)
def test_bad_clause_names_file_clause_and_field(tmp_path, change, field):
    body = GOOD.replace(*change)
    with pytest.raises(SpecError) as err:
        load_catalogue(_write(tmp_path, body))
    assert err.value.file == "area.md"
    assert err.value.field == field
    assert "area.md" in str(err.value) and repr(field) in str(err.value)


def test_bad_yaml_and_unclosed_blocks(tmp_path):
    with pytest.raises(SpecError, match="invalid YAML"):
        parse_file("```clause\nid: [unclosed\n```\n", "area.md")
    with pytest.raises(SpecError, match="not closed"):
        parse_file("```clause\nid: area.x\n", "area.md")
    with pytest.raises(SpecError, match="no ```clause blocks"):
        parse_file("# nothing here\n", "area.md")


def test_duplicate_ids_across_files_are_refused(tmp_path):
    _write(tmp_path, GOOD)
    (tmp_path / "area2.md").write_text(GOOD.replace("id: area.good", "id: area2.good"), encoding="utf-8")
    load_catalogue(tmp_path)
    (tmp_path / "area3.md").write_text(GOOD.replace("id: area.good", "id: area3.good"), encoding="utf-8")
    (tmp_path / "area.md").write_text(GOOD + GOOD, encoding="utf-8")
    with pytest.raises(SpecError, match="duplicate id"):
        load_catalogue(tmp_path)


def test_catalogue_needs_a_version(tmp_path):
    (tmp_path / "README.md").write_text("no front matter\n", encoding="utf-8")
    (tmp_path / "area.md").write_text(GOOD, encoding="utf-8")
    with pytest.raises(SpecError, match="catalogue_version"):
        load_catalogue(tmp_path)


def _decorator_name(dec: ast.expr) -> str:
    """`given` for @given(...), `statistical` for @pytest.mark.statistical(...)."""
    target = dec.func if isinstance(dec, ast.Call) else dec
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def test_every_property_carries_the_run_settings():
    """Ordinary properties take --max-examples through `property_settings`;
    statistical ones (and only they) use `statistical_settings`, whose fixed
    example count the false-alarm budget is planned on."""
    for path in PROPERTIES.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef):
                continue
            names = [_decorator_name(d) for d in node.decorator_list]
            if "given" not in names:
                continue
            where = f"{path.name}::{node.name}"
            if "statistical" in names:
                assert "statistical_settings" in names, (
                    f"{where} is statistical but lacks @statistical_settings"
                )
            else:
                assert "property_settings" in names, f"{where} lacks @property_settings"
