"""The README stays a front door and the docs stay navigable: a short README, relative links and
their #anchors that lead somewhere, and no references a reader cannot open (issue numbers, notes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").rglob("*.md"))]
README_MAX_LINES = 220

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
ISSUE_REFERENCE = re.compile(r"\bissues?\s+#?\d+|(?<![\w/&])#\d+\b|\bseed notes?\b", re.I)


def page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


def prose(page: Path) -> str:
    """The page without its fenced code blocks (a '# comment' in a shell block is no heading)."""
    return FENCE.sub("", page.read_text(encoding="utf-8"))


def anchors(page: Path) -> set[str]:
    """GitHub's anchor of each heading: lower case, punctuation dropped, spaces to hyphens."""
    slugs = set()
    for title in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", prose(page), re.M):
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").lower()).replace(" ", "-")
        slugs.add(slug)
    return slugs


def test_readme_is_a_front_door():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move details to a page under docs/")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_lead_somewhere(page):
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z][a-z+.-]*:", target):  # https:, mailto: ... : not checked offline
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no heading with that anchor)")
    assert not broken, f"{page_id(page)}: broken links: {', '.join(broken)}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_references_a_reader_cannot_open(page):
    found = [m.group(0) for m in ISSUE_REFERENCE.finditer(page.read_text(encoding="utf-8"))]
    assert not found, (
        f"{page_id(page)} cites {', '.join(sorted(set(found)))}: say what was found instead, or link the source")
