"""The project carries its own design document, and what points into it or from it resolves.

The code refers to sections of ``docs/DESIGN.md`` by name (``DESIGN.md "Queries"``); every
such section must exist. Every relative link of the README and of ``docs/`` must name a file
of the repository, and nothing may point outside it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DESIGN = ROOT / "docs" / "DESIGN.md"
CODE_DIRS = (
    "dataward",
    "enclave",
    "grpc_api",
    "launcher",
    "portal",
    "policies",
    "query_engine",
    "protos",
    "synthetic",
    "tests",
    "bench",
)


def _headings(text: str) -> set[str]:
    return {m[1].strip() for m in re.finditer(r"^#{2,4} (.+)$", text, re.M)}


def _code_references() -> set[tuple[str, str]]:
    found = set()
    pattern = re.compile(r'DESIGN\.md[",]*\s*"([A-Z][^"]{1,60})"')
    for top in CODE_DIRS:
        for path in (ROOT / top).rglob("*"):
            skip = "__pycache__" in path.parts or path == Path(__file__).resolve()
            if path.suffix not in {".py", ".proto", ".pyi"} or skip:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in pattern.finditer(" ".join(text.split())):
                found.add((str(path.relative_to(ROOT)), match[1]))
    return found


def test_the_design_document_is_in_the_repository_and_has_its_parts() -> None:
    headings = _headings(DESIGN.read_text(encoding="utf-8"))
    for part in (
        "Processes and trust boundaries",
        "Layout and who may import whom",
        "Data flow",
        "Security model",
        "Decisions and why",
    ):
        assert part in headings, part


def test_every_section_the_code_names_exists() -> None:
    headings = _headings(DESIGN.read_text(encoding="utf-8"))
    references = _code_references()
    assert references, "the code names sections of DESIGN.md (the pattern must find them)"
    missing = sorted((where, name) for where, name in references if name not in headings)
    assert not missing, missing


DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_relative_links_resolve_inside_the_repository(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    for link in links:
        if re.match(r"[a-z]+://", link) or link.startswith("mailto:"):
            continue
        target = (document.parent / link).resolve()
        assert target.is_relative_to(ROOT), (document.name, link)
        assert target.exists(), (document.name, link)
