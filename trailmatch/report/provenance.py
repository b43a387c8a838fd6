"""Provenance of a report: what it was made from, for a person and for ``trailmatch verify``.

A report is evidence, so it says exactly what it rests on: the SHA-256 of every input file
(the batch files, each trail partition read), the rules and their digest, the algorithm
version, and, for the machine, every crime version and hit it shows
(``<pre id="trailmatch-verify">``, JSON). All of that is deterministic: the same inputs and
rules give the same bytes.

What differs from run to run (the run, the operator, the time) sits in one **production
block** between ``PRODUCTION_BEGIN`` and ``PRODUCTION_END``. The report's content hash is the
SHA-256 of the document with that block cut out; the block states it, so anyone can check that
nothing else was changed (``content_hash``).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
from dataclasses import dataclass
from html import escape, unescape
from pathlib import Path

PRODUCTION_BEGIN = "<!-- trailmatch:production:begin -->"
PRODUCTION_END = "<!-- trailmatch:production:end -->"
HASH_SLOT = "{{content-sha256}}"
VERIFY_ID = "trailmatch-verify"
FORMAT = "trailmatch-report/1"


@dataclass(frozen=True)
class InputFile:
    """One file the report rests on: ``kind`` is ``batch file`` or ``trail partition``."""

    kind: str
    name: str
    sha256: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "sha256": self.sha256}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def default_operator() -> str:
    """The OS user running the job (``--operator`` overrides it)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class Production:
    """The run-to-run part of a report: never inside the content hash."""

    run: str
    operator: str
    produced: str  # "YYYY-MM-DD HH:MM:SS.ffffff UTC"

    @classmethod
    def now(cls, run: str, operator: str) -> Production:
        """Produced now, to the microsecond: ``trailmatch verify`` tells fixes ingested after
        the report from those before it by this instant (to the second, fixes ingested in the
        same second as the report counted as late)."""
        import datetime as dt

        return cls(run, operator,
                   dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC"))

    def html(self) -> str:
        rows = [("Run", self.run), ("Operator", self.operator), ("Produced", self.produced),
                ("Report content SHA-256", HASH_SLOT)]
        body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v) if v != HASH_SLOT else v}"
                       "</td></tr>" for k, v in rows)
        return (f"{PRODUCTION_BEGIN}<div class='production'><p class='production-label'>"
                "Production record: differs from run to run; everything outside this box is "
                "covered by the content hash</p>"
                f"<table class='kv'>{body}</table></div>{PRODUCTION_END}")


def _cut(html: str) -> tuple[str, str, str]:
    a = html.find(PRODUCTION_BEGIN)
    b = html.find(PRODUCTION_END)
    if a < 0 or b < a:
        raise ValueError("not a trailmatch report: no production block")
    b += len(PRODUCTION_END)
    return html[:a], html[a:b], html[b:]


def content_hash(html: str) -> str:
    """SHA-256 of the document outside its production block."""
    before, _, after = _cut(html)
    return hashlib.sha256((before + after).encode("utf-8")).hexdigest()


def seal(html: str) -> str:
    """Write the content hash into the production block."""
    before, block, after = _cut(html)
    digest = hashlib.sha256((before + after).encode("utf-8")).hexdigest()
    return before + block.replace(HASH_SLOT, digest) + after


def stated_hash(html: str) -> str | None:
    """The content hash the production block states (None when absent)."""
    _, block, _ = _cut(html)
    m = re.search(r"Report content SHA-256</th><td>([0-9a-f]{64})<", block)
    return m.group(1) if m else None


def without_production(html: str) -> str:
    """The deterministic part of a report: the document with its production block cut out."""
    before, _, after = _cut(html)
    return before + after


def verify_block(data: dict) -> str:
    """The machine-readable record as a collapsed, escaped JSON block (no script)."""
    text = json.dumps({"format": FORMAT, **data}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"), allow_nan=False)
    return (f"<details class='verify'><summary>Data for <code>trailmatch verify</code> "
            f"(crime versions, hits, inputs)</summary><pre id='{VERIFY_ID}'>{escape(text)}"
            "</pre></details>")


def read_verify_data(html: str) -> dict:
    """The record ``verify_block`` wrote into a report."""
    m = re.search(rf"<pre id='{VERIFY_ID}'>(.*?)</pre>", html, flags=re.S)
    if m is None:
        raise ValueError("not a trailmatch report: no verify data (made before provenance "
                         "was recorded?)")
    data = json.loads(unescape(m.group(1)))
    if data.get("format") != FORMAT:
        raise ValueError(f"unknown report format {data.get('format')!r}")
    return data


def read_report(path: str | os.PathLike) -> str:
    return Path(path).read_text(encoding="utf-8")


def provenance_section(*, algorithm_version: str, rules: dict, rules_digest: str,
                       inputs: list[InputFile], record: dict) -> str:
    """The report's last section: what it rests on, for a person (a table of the inputs with
    their SHA-256) and for ``trailmatch verify`` (``record`` plus all of the above, as JSON)."""
    rows = "".join(
        f"<tr><td>{escape(f.kind)}</td><td>{escape(f.name)}</td>"
        f"<td class='hash'>{f.sha256}</td></tr>" for f in inputs)
    rules_text = ", ".join(f"{k} = {v}" for k, v in sorted(rules.items()))
    data = {"algorithm_version": algorithm_version, "rules": rules,
            "rules_digest": rules_digest, "inputs": [f.as_dict() for f in inputs], **record}
    return (
        "<section class='crime provenance' id='provenance'><h2>Provenance</h2>"
        "<p>What this report was made from. The same inputs and rules give the same report, "
        "byte for byte, outside the production record at the top; <code>trailmatch verify "
        "REPORT --store DIR</code> recomputes its hits from the store and says whether they "
        "still stand.</p>"
        f"<table class='kv'><tr><th>Algorithm</th><td>{escape(algorithm_version)}</td></tr>"
        f"<tr><th>Rules</th><td>{escape(rules_text)}</td></tr>"
        f"<tr><th>Rules digest (SHA-256)</th><td class='hash'>{escape(rules_digest)}</td></tr>"
        "</table>"
        "<table><thead><tr><th>Input</th><th>Name</th><th>SHA-256</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{verify_block(data)}</section>")
