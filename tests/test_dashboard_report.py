"""The self-contained HTML report (`asynchpo plot -o report.html`), read as text: one file that
loads nothing, whose embedded data no string can break out of, and whose Content-Security-Policy
lists exactly the hashes of its own inline script and style blocks."""

from __future__ import annotations

import base64
import hashlib
import html.parser
import json
import re
import time
from typing import Any

import pytest
from browser import study_payload, wire

from asynchpo._dashboard import _report
from asynchpo._dashboard._report import render_report

HOSTILE = [
    "<script>alert(1)</script>",
    "</script><script>alert(2)</script>",
    "<!--<script>",
    "<img src=x onerror=alert(3)>",
    "&lt;not an entity&gt; & \u2028 \u2029 \" ' `",
]


class _Tags(html.parser.HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser.tags


def _blocks(page: str, element: str) -> list[tuple[str, str]]:
    """(attributes, text) of each raw-text `element` block, exactly as written."""
    return re.findall(rf"<{element}([^>]*)>(.*?)</{element}>", page, flags=re.DOTALL)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _csp(page: str) -> dict[str, list[str]]:
    metas = [
        attrs
        for tag, attrs in _tags(page)
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "content-security-policy"
    ]
    assert len(metas) == 1
    policy = metas[0]["content"] or ""
    out: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        out[name] = values
    return out


def report(payload: dict[str, Any], written: float | None = None) -> str:
    """The report of ``payload`` (lists per field), sent as the server writes JSON."""
    return render_report(json.dumps(wire(payload), ensure_ascii=False), written=written)


def _embedded(page: str) -> Any:
    data = [text for attrs, text in _blocks(page, "script") if 'id="asynchpo-data"' in attrs]
    assert len(data) == 1
    return data[0]


def _hostile_payload() -> dict[str, Any]:
    payload = study_payload(12, name=HOSTILE[0])
    payload["params"][2]["options"] = HOSTILE[1:4]
    payload["trials"]["metrics"][HOSTILE[3]] = [HOSTILE[1]] * 12
    payload["trials"]["error"][0] = "\n".join(HOSTILE)
    payload["storage"] = HOSTILE[4]
    return payload


def test_the_report_is_one_file_that_loads_nothing() -> None:
    page = report(study_payload(50), written=1_764_490_000.0)
    tags = _tags(page)
    names = [tag for tag, _ in tags]
    for tag, attrs in tags:
        assert "src" not in attrs, (tag, attrs)
        assert "href" not in attrs, (tag, attrs)
    for absent in ("link", "img", "iframe", "object", "embed", "base", "form"):
        assert absent not in names
    assert names.count("main") == 1
    assert names.count("style") == 1
    assert names.count("script") == 3  # the data, uPlot, the dashboard
    for _, css in _blocks(page, "style"):
        assert "url(" not in css
        assert "@import" not in css
    csp = _csp(page)
    assert csp["default-src"] == ["'none'"]
    assert csp["connect-src"] == ["'none'"]
    assert csp["img-src"] == ["data:"]
    # the vendored library and the page's own code, unchanged
    assert "uPlot" in page
    assert "asynchpo-data" in page


def test_the_embedded_data_is_the_payload_with_the_time_written() -> None:
    payload = study_payload(40)
    page = report(payload, written=1_764_490_000.5)
    assert json.loads(_embedded(page)) == {
        "page": "study",
        "study": wire(payload),
        "written": 1_764_490_000.5,
    }
    before = time.time()
    now = json.loads(_embedded(report(payload)))["written"]
    assert before - 1 <= now <= time.time() + 1


def test_hostile_strings_cannot_leave_the_data_block() -> None:
    payload = _hostile_payload()
    page = report(payload, written=0.0)
    block = _embedded(page)
    for forbidden in ("<", ">", "&", "\u2028", "\u2029"):
        assert forbidden not in block
    assert json.loads(block)["study"] == wire(payload)
    # nothing hostile outside the data either: the title holds the name escaped
    outside = page.replace(block, "")
    for text in HOSTILE:
        assert text not in outside
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; · asynchpo report</title>" in page
    # exactly the three script elements the report writes
    assert len(_blocks(page, "script")) == 3


def test_the_policy_lists_exactly_the_inline_blocks() -> None:
    page = report(_hostile_payload(), written=0.0)
    csp = _csp(page)
    code = [text for attrs, text in _blocks(page, "script") if "asynchpo-data" not in attrs]
    styles = [text for _, text in _blocks(page, "style")]
    assert len(code) == 2
    assert len(styles) == 1
    assert sorted(csp["script-src"]) == sorted(_sha256(text) for text in code)
    assert csp["style-src"] == [_sha256(styles[0])]
    # the data block is never run, so it is not allowed to be
    assert _sha256(_embedded(page)) not in csp["script-src"]
    assert "'unsafe-inline'" not in page
    assert "'unsafe-eval'" not in page


def test_a_file_that_would_end_its_element_is_refused() -> None:
    with pytest.raises(ValueError, match="</script"):
        _report._raw_text("var s = '</SCRIPT>';", "script")
    assert _report._raw_text("a < b", "script") == "a < b"


def test_the_page_code_never_writes_markup() -> None:
    """dashboard.js puts user strings in the DOM as text only (the spec's rule)."""
    code = _report._static("dashboard.js")
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ):
        assert sink not in code, sink
    assert _report._static("page.html").count("<script") == 2
