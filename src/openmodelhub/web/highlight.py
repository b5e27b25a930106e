"""Syntax highlighting on the server (Pygments): HTML with token classes only, styled by static/pygments.css.

No inline styles are produced, so the pages' CSP (`default-src 'self'`) needs no `unsafe-inline`.
"""

from html import escape

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.util import ClassNotFound

# Beyond this, highlighting costs more than it helps: the text is shown plain.
HIGHLIGHT_LIMIT = 512 * 1024
_FORMATTER = HtmlFormatter(nowrap=True)


def _lexer(lang: str | None, filename: str | None) -> Lexer | None:
    try:
        if lang:
            return get_lexer_by_name(lang.strip().split()[0].lower())
        if filename:
            return get_lexer_for_filename(filename)
    except ClassNotFound:
        return None
    return None


def highlight_spans(code: str, *, lang: str | None = None, filename: str | None = None) -> str:
    """`code` as escaped HTML with `<span class="...">` tokens (plain escaped text when no lexer fits)."""
    lexer = _lexer(lang, filename) if len(code) <= HIGHLIGHT_LIMIT else None
    if lexer is None:
        return escape(code)
    return highlight(code, lexer, _FORMATTER)


def highlight_block(code: str, lang: str | None) -> str:
    """A fenced code block of a card: `<pre class="highlight"><code>…</code></pre>`."""
    return f'<pre class="highlight"><code>{highlight_spans(code, lang=lang)}</code></pre>'


def highlight_lines(code: str, *, filename: str | None = None, lang: str | None = None) -> list[str]:
    """Highlighted HTML per line (for the file viewer's numbered lines); spans never cross a line end."""
    html = highlight_spans(code, lang=lang, filename=filename)
    if html.endswith("\n"):  # the newline that ends the last line does not start another
        html = html[:-1]
    lines: list[str] = []
    open_spans: list[str] = []
    for raw in html.split("\n"):
        line = "".join(open_spans) + raw
        # Re-open spans still open at the end of the previous line, close them at the end of this one.
        for token in _tags(raw):
            if token.startswith("</"):
                if open_spans:
                    open_spans.pop()
            else:
                open_spans.append(token)
        lines.append(line + "</span>" * len(open_spans))
    return lines


def _tags(html: str) -> list[str]:
    out = []
    i = html.find("<")
    while i != -1:
        j = html.find(">", i)
        if j == -1:
            break
        out.append(html[i : j + 1])
        i = html.find("<", j)
    return out


def stylesheet() -> str:
    """The CSS for the token classes (static/pygments.css is this, written once)."""
    return str(HtmlFormatter(style="default").get_style_defs(".highlight"))
