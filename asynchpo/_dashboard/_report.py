"""The study page as one self-contained HTML file: the dashboard's own page, script and styles
inlined, the study's data embedded as JSON, no server and no network.

The file carries its own Content-Security-Policy: only the inline script and style blocks whose
SHA-256 hashes it lists may run or apply, and it may load nothing (``default-src 'none'``), so
a string inside the data can neither end the data's element nor run as code. The data block
(``type="application/json"``) is never executed, so its hash is not listed.
"""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.resources
import json
import re
import time

__all__ = ["render_report"]

# What may end a raw-text element early, or break the JSON when read as a script.
_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_ESCAPED = re.compile("[<>&\u2028\u2029]")


def _static(name: str) -> str:
    return (
        importlib.resources.files("asynchpo._dashboard")
        .joinpath("static", name)
        .read_text(encoding="utf-8")
    )


def _escaped(text: str) -> str:
    """JSON text with ``<``, ``>``, ``&``, U+2028 and U+2029 written as escapes: in JSON they
    only occur inside strings, where an escape reads back as the same character."""
    return _ESCAPED.sub(lambda m: _ESCAPES[m.group(0)], text)


def _raw_text(text: str, element: str) -> str:
    """``text`` for a raw-text ``<script>``/``<style>`` element; refuses what would end it."""
    if f"</{element}" in text.lower():
        raise ValueError(f"a vendored file holds '</{element}' and cannot be inlined")
    return text


def _hash(block: str) -> str:
    digest = hashlib.sha256(block.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_report(payload: str, *, written: float | None = None) -> str:
    """The self-contained HTML report of one study.

    ``payload`` is the JSON text of the study's ``/api/study`` payload; ``written`` the time
    the report is written (seconds since the epoch; now by default), shown on the page.

    :raises ValueError: ``payload`` is not JSON text of an object.
    """
    when = time.time() if written is None else float(written)
    study = json.loads(payload)  # checked whole: only JSON goes into the page
    if not isinstance(study, dict):
        raise ValueError("the payload must be a JSON object")
    name = str(study.get("name", "study"))
    text = _escaped('{"page":"study","study":' + payload + ',"written":' + json.dumps(when) + "}")
    style = _raw_text(_static("uPlot.min.css") + "\n" + _static("dashboard.css"), "style")
    scripts = [
        _raw_text(_static("uPlot.iife.min.js"), "script"),
        _raw_text(_static("dashboard.js"), "script"),
    ]
    csp = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(_hash(s) for s in scripts),
            "style-src " + _hash(style),
            "img-src data:",
            "connect-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(name)} · asynchpo report</title>",
        f"<style>{style}</style>",
        "</head>",
        "<body>",
        '<main id="app"></main>',
        f'<script type="application/json" id="asynchpo-data">{text}</script>',
        *(f"<script>{s}</script>" for s in scripts),
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)
