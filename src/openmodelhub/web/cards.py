"""Model and dataset cards as safe HTML.

A card is Markdown written by whoever can push to the repo, shown on a page of the hub's own origin, so it
must not be able to run script, restyle the page, or send a reader to a `javascript:` or `data:` URL.
Two layers, each enough on its own for links:

1. markdown-it-py renders CommonMark plus tables and strikethrough; its link check only lets relative,
   http(s) and mailto URLs become links or images (`validateLink`).
2. nh3 (the Ammonia sanitizer) then rebuilds the HTML from an allow-list: no `<script>`, `<style>`,
   `<iframe>`, forms or SVG; no `on*` handlers, `style`, `id` or free `class` attributes (a card cannot
   borrow the hub's own classes); URLs in `href`/`src` only http, https, mailto or relative.

Relative links and images are rewritten to the repo's own file pages (`blob/`) and downloads (`raw/`), as
the Hub does. Fenced code is highlighted with Pygments on the server; only Pygments' token classes survive.
"""

import re
from collections.abc import Callable
from urllib.parse import quote, urljoin

import nh3
from markdown_it import MarkdownIt
from pygments.token import STANDARD_TYPES

from openmodelhub.web.highlight import highlight_block

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
# Characters browsers ignore inside a scheme ("java\tscript:" is javascript:).
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]+")

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q",
    "s", "samp", "small", "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var", "center",
}  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "div": {"align"},
    "p": {"align"},
    "ol": {"start"},
    "details": {"open"},
}
_TOKEN_CLASSES = {c for c in STANDARD_TYPES.values() if c}
ALLOWED_CLASSES = {"pre": {"highlight"}, "span": _TOKEN_CLASSES}


def safe_url(url: str) -> bool:
    """True for relative URLs and http(s)/mailto ones; everything else (javascript:, data:, vbscript:,
    file:...) is refused, however it is spelled."""
    match = _SCHEME.match(_IGNORED_IN_URL.sub("", url))
    return match is None or match.group(1).lower() in ALLOWED_SCHEMES


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "highlight": _highlight}).enable(["table", "strikethrough"])
    md.validateLink = safe_url  # type: ignore[method-assign]
    return md


def _highlight(code: str, lang: str, _attrs: str) -> str:
    return highlight_block(code, lang or None)


_MD = _markdown()


def _is_relative(url: str) -> bool:
    return not _SCHEME.match(url) and not url.startswith(("//", "#", "/", "?"))


def _attribute_filter(blob_base: str | None, raw_base: str | None) -> Callable[[str, str, str], str | None]:
    def keep(tag: str, attr: str, value: str) -> str | None:
        if attr in ("href", "src"):
            if not safe_url(value):
                return None
            base = raw_base if attr == "src" else blob_base
            if base and _is_relative(value):
                path, sep, fragment = value.partition("#")
                return urljoin(base, quote(path, safe="/%?=&")) + (sep + fragment if sep else "")
        if attr == "width" or attr == "height":
            return value if value.isdigit() else None
        return value

    return keep


def render_markdown(text: str, *, blob_base: str | None = None, raw_base: str | None = None) -> str:
    """Markdown to sanitized HTML. `blob_base`/`raw_base` (ending in '/') resolve relative links and
    images to the repo's files."""
    html = _MD.render(text)
    return nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        attribute_filter=_attribute_filter(blob_base, raw_base),
        url_schemes=set(ALLOWED_SCHEMES),
        allowed_classes=ALLOWED_CLASSES,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )
