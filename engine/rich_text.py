"""Text that may hold Markdown (an AI's draft, a reviewer's edit), made safe for an email or a page:
rendered to HTML with anything raw escaped and nothing fetched, or to plain text without its markers.

A draft that says `# Launch` reads as a heading in the HTML part and as "Launch" in the text part;
never as a raw `#`. Raw HTML in the text is shown as text, images are not loaded (a remote image is a
tracker), and only http(s) and mailto links stay links.
"""

from __future__ import annotations

from functools import cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

_SAFE_SCHEMES = ("http://", "https://", "mailto:")


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
    md.disable("image")  # ![x](http://…) stays text: nothing is fetched when the email is opened
    md.validateLink = lambda url: url.strip().lower().startswith(_SAFE_SCHEMES)  # type: ignore[method-assign]
    return md


def to_html(text: str) -> str:
    """Markdown as safe HTML: raw HTML escaped, no images, only http(s) and mailto links."""
    html: str = _parser().render(text)
    return html


def to_plain(text: str) -> str:
    """Markdown as plain text for the text part of an email: headings, emphasis and code without their
    markers, list items as "- ", links as "text (address)", blocks apart by a blank line."""
    blocks: list[str] = []
    items: list[str] | None = None  # the lines of the list being read
    for token in _parser().parse(text):
        if token.type in ("bullet_list_open", "ordered_list_open"):
            items = []
        elif token.type in ("bullet_list_close", "ordered_list_close") and items is not None:
            blocks.append("\n".join(items))
            items = None
        elif token.type == "inline":
            line = _inline_text(token)
            if items is not None:
                items.append(f"- {line}")
            else:
                blocks.append(line)
        elif token.type in ("code_block", "fence"):
            blocks.append(token.content.rstrip("\n"))
        elif token.type == "hr":
            blocks.append("—")
    return "\n\n".join(blocks)


def _inline_text(token: Token) -> str:
    """An inline token's words without Markdown markers (a link keeps its address in brackets)."""
    out: list[str] = []
    href = ""
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif child.type == "link_open":
            href = str(child.attrs.get("href", ""))
        elif child.type == "link_close" and href:
            out.append(f" ({href})")
            href = ""
    return "".join(out)
