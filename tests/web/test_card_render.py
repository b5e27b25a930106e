"""The card sanitizer (web/cards.py): Markdown with tables and code renders; script, handlers, styles and
javascript:/data: URLs do not survive, however they are spelled."""

import re
from html import unescape

import pytest

from openmodelhub.web.cards import render_markdown, safe_url


def _render(text: str) -> str:
    return render_markdown(text, blob_base="/alice/m/blob/main/", raw_base="/alice/m/raw/main/")


def test_tables_code_and_lists_render() -> None:
    html = _render(
        "# Title\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n\n- x\n- ~~y~~\n\n"
        "```python\ndef f():\n    return 1\n```\n"
    )
    assert "<h1>Title</h1>" in html
    assert "<table>" in html and "<th>a</th>" in html and "<td>1</td>" in html
    assert "<li><s>y</s></li>" in html or "<li><del>y</del></li>" in html
    assert '<pre class="highlight"><code>' in html
    assert '<span class="k">def</span>' in html


def test_script_tags_and_their_content_are_removed() -> None:
    html = _render("hi\n\n<script>window.pwned = 1</script>\n\n<p>x<script src=/evil.js></script></p>")
    assert "<script" not in html.lower()
    assert "pwned" not in html
    assert "evil.js" not in html


@pytest.mark.parametrize(
    "snippet",
    [
        '<img src="x.png" onerror="window.pwned=1">',
        '<a href="https://example.org" onclick="window.pwned=1">x</a>',
        '<div onmouseover="window.pwned=1">x</div>',
        '<details open ontoggle="window.pwned=1"><summary>s</summary></details>',
        '<body onload="window.pwned=1">',
        '<svg onload="window.pwned=1"><circle/></svg>',
        '<iframe src="https://example.org" onload="window.pwned=1"></iframe>',
        '<form action="https://evil.example"><input name=x onfocus="window.pwned=1" autofocus></form>',
    ],
)
def test_event_handlers_and_active_elements_are_removed(snippet: str) -> None:
    html = _render(snippet)
    assert not re.search(r"\son\w+\s*=", html, re.I), html
    for tag in ("<svg", "<iframe", "<form", "<input", "<body"):
        assert tag not in html.lower(), html
    assert "pwned" not in html


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        " javascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "data:image/png;base64,iVBORw0KGgo=",
        "file:///etc/passwd",
    ],
)
def test_dangerous_urls_are_refused(url: str) -> None:
    assert not safe_url(url)
    markdown = _render(f"[link]({url}) ![img]({url}) <{url}>")
    raw_html = _render(f'<a href="{url}">a</a><img src="{url}">')
    entity = _render('<a href="&#106;avascript:alert(1)">e</a><a href="jav&#x09;ascript:alert(1)">t</a>')
    for html in (markdown, raw_html, entity):
        # The text may stay visible as text; no link or image may carry the URL.
        for value in _url_attributes(html):
            assert safe_url(value), html
            assert not value.lower().startswith(("data:", "javascript:", "vbscript:", "file:")), html


def _url_attributes(html: str) -> list[str]:
    return [unescape(v) for v in re.findall(r'\s(?:href|src)\s*=\s*"([^"]*)"', html, re.I)]


def test_styles_ids_and_classes_cannot_escape_the_card() -> None:
    html = _render(
        '<style>body { display: none }</style>\n\n<div style="position:fixed;inset:0" id="main" '
        'class="site-header flash">x</div><link rel="stylesheet" href="/evil.css"><span class="k">ok</span>'
    )
    assert "<style" not in html and "display: none" not in html
    assert "style=" not in html
    assert 'id="main"' not in html
    assert "site-header" not in html and "flash" not in html
    assert "<link" not in html
    assert '<span class="k">ok</span>' in html  # Pygments token classes are the only classes kept


def test_safe_links_stay_and_relative_ones_point_into_the_repo() -> None:
    html = _render(
        "[site](https://example.org/a?b=1) [mail](mailto:a@example.org) [doc](docs/usage.md#setup) "
        "[top](#intro) [abs](/datasets/x/y) ![plot](images/plot.png)"
    )
    assert 'href="https://example.org/a?b=1"' in html
    assert 'href="mailto:a@example.org"' in html
    assert 'href="/alice/m/blob/main/docs/usage.md#setup"' in html
    assert 'href="#intro"' in html
    assert 'href="/datasets/x/y"' in html
    assert 'src="/alice/m/raw/main/images/plot.png"' in html
    assert 'rel="nofollow noopener noreferrer"' in html


def test_raw_html_that_is_harmless_is_kept() -> None:
    html = _render('<div align="center"><img src="https://example.org/x.png" width="200" alt="logo"></div>')
    assert '<div align="center">' in html
    assert 'src="https://example.org/x.png"' in html and 'width="200"' in html and 'alt="logo"' in html


def test_safe_url_allows_relative_and_web_urls() -> None:
    urls = ("https://a.example", "http://a.example", "mailto:x@y", "a/b.md", "#x", "/p", "?q=1", "//a.ex")
    for url in urls:
        assert safe_url(url), url
