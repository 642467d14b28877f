"""MkDocs hook: headings inside a collapsed block stay out of the page's contents.

The benchmark page includes each full report inside a collapsed ``???`` block
(``pymdownx.details``).  The reports' own headings would otherwise fill the
page's table of contents, nested under whichever heading came before.  This
hook drops every heading inside a ``<details>`` element from ``page.toc`` and
nests the rest again by level; the headings keep their anchors.  Registered in
``mkdocs.yml`` under ``hooks:``.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from mkdocs.structure.toc import AnchorLink, TableOfContents

HEADINGS = {f"h{level}" for level in range(1, 7)}


class _HeadingsInDetails(HTMLParser):
    """Collects the ids of the headings inside ``<details>`` elements."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "details":
            self.depth += 1
        elif self.depth and tag in HEADINGS:
            anchor = dict(attrs).get("id")
            if anchor:
                self.ids.add(anchor)

    def handle_endtag(self, tag: str) -> None:
        if tag == "details" and self.depth:
            self.depth -= 1


def _flatten(items: list[AnchorLink]) -> list[AnchorLink]:
    flat = []
    for item in items:
        flat.append(item)
        flat += _flatten(item.children)
    return flat


def prune_toc(toc: TableOfContents, hidden: set[str]) -> TableOfContents:
    """*toc* without the entries whose id is in *hidden*, nested again."""
    roots: list[AnchorLink] = []
    stack: list[AnchorLink] = []
    for item in _flatten(list(toc)):
        item.children = []
        if item.id in hidden:
            continue
        while stack and stack[-1].level >= item.level:
            stack.pop()
        (stack[-1].children if stack else roots).append(item)
        stack.append(item)
    return TableOfContents(roots)


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    if "<details" not in html:
        return html
    parser = _HeadingsInDetails()
    parser.feed(html)
    if parser.ids:
        page.toc = prune_toc(page.toc, parser.ids)
    return html
