"""HTML mail bodies reduced to plain text that is safe to show: no markup ever survives."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Contents of these elements are never shown by a mail client.
_HIDDEN = frozenset({"script", "style", "head", "title", "template", "xml"})
_LINE = frozenset({"div", "tr", "li", "dt", "dd", "address", "center", "form",
                   "fieldset", "figure", "figcaption", "section", "article", "header",
                   "footer", "main", "nav", "aside", "caption"})
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl",
                        "blockquote", "pre", "hr"})
_CELL = frozenset({"td", "th"})
_SHOWN_URL = re.compile(r"^(https?://|mailto:|tel:)[^\s<>\"']+$", re.I)
_HIDDEN_SCHEME = re.compile(r"^(mailto|tel):", re.I)
# html.parser raises AssertionError on '<![' followed by anything but these keywords
# (Word's '<![if !supportLists]>' is fine, '<![foo[' is not), so such openers are dropped.
_BAD_MARKED_SECTION = re.compile(
    r"<!\[(?!(?:temp|cdata|ignore|include|rcdata|if|else|endif)(?![-_.a-zA-Z0-9]))", re.I)
_INVISIBLE = re.compile("[\u00ad\u034f\u200b\u2060\ufeff]")
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_BREAK = "\x00"  # marks a line break from markup, so source newlines can be collapsed


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._breaks = 0  # line breaks the output ends with, whitespace aside
        self._hidden = 0
        self._pre = 0
        self._links: list[tuple[str, int]] = []  # (href, index of the link's first chunk)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "body":
            self._hidden = 0  # an unclosed <head> must not hide the whole body
        elif tag == "a":
            self._links.append((dict(attrs).get("href") or "", len(self.chunks)))
        elif tag == "pre":
            self._pre += 1
        self._block(tag)
        if tag == "li" and not self._hidden:
            self._emit("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HIDDEN and tag != "a":
            self._block(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag == "a" and self._links:
            self._close_link(*self._links.pop())
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        self._block(tag)

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if self._pre:
            for n, line in enumerate(data.split("\n")):
                self._emit(_BREAK * (n > 0) + line)
        else:
            # HTML's whitespace is ASCII only: a lone &nbsp; is content and holds a line open.
            self._emit(_HTML_SPACE.sub(" ", data))

    def _emit(self, chunk: str) -> None:
        self.chunks.append(chunk)
        content = chunk.lstrip(_BREAK)
        if content.strip(" "):
            self._breaks = 0
        else:
            self._breaks += len(chunk) - len(content)

    def _block(self, tag: str) -> None:
        if tag == "br":
            if not self._hidden:
                self._emit(_BREAK)
        elif tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)
        elif tag in _CELL:
            self._emit(" ")

    def _break(self, count: int) -> None:
        """Ensure the output ends with at least `count` line breaks."""
        if not self._hidden and self._breaks < count:
            self._emit(_BREAK * (count - self._breaks))

    def _close_link(self, href: str, start: int) -> None:
        href = href.strip()
        if self._hidden or not _SHOWN_URL.match(href):
            return  # javascript:, cid:, relative links, or a URL that would carry markup
        text = "".join(self.chunks[start:]).replace(_BREAK, " ").strip()
        shown = _HIDDEN_SCHEME.sub("", href)
        if _same_target(text, shown):
            return
        self._emit(f" ({shown})" if text else shown)


def _same_target(text: str, url: str) -> bool:
    def bare(s: str) -> str:
        return s.lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    return bare(text) == bare(url)


def html_to_text(html: str) -> str:
    """Turn an HTML body into readable plain text.

    Script, style and head contents are dropped, block elements and ``<br>`` become line
    breaks, links keep their text followed by the URL in parentheses when it differs,
    entities are decoded and whitespace is normalised. Broken HTML gives what could be read.
    """
    collector = _TextCollector()
    try:
        collector.feed(_BAD_MARKED_SECTION.sub("", html))
        collector.close()
    except AssertionError:
        pass  # html.parser's last words on markup it cannot scan; keep what was read
    text = _INVISIBLE.sub("", "".join(collector.chunks))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split(_BREAK)]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
