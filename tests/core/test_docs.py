"""The README is short and points at every docs page; every relative link resolves."""

import re

from common import REPO

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _pages():
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_readme_is_short_and_links_every_docs_page():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    linked = {m.split("#")[0] for m in LINK.findall(text)}
    missing = [p.name for p in sorted((REPO / "docs").glob("*.md")) if f"docs/{p.name}" not in linked]
    assert not missing, f"docs pages the README does not link: {missing}"


def test_every_relative_link_resolves():
    broken = []
    for page in _pages():
        for target in LINK.findall(page.read_text()):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path = target.split("#")[0]
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
    assert not broken, "links that resolve to nothing:\n" + "\n".join(broken)


def test_no_page_points_outside_the_clone():
    for page in _pages():
        assert "../shared" not in page.read_text(), page
