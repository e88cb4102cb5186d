"""The printable HTML custody report: one self-contained page, no scripts.

Every value comes from drives or logs, so every value is escaped.  The print
style leaves the paper size to the printer (A4 or Letter), keeps the content
inside the narrower of the two, repeats table headers on each page, and never
splits a sign-off block.
"""

from __future__ import annotations

import html
from typing import Any

from airgap_transfer.custody import chunk_sets
from airgap_transfer.format.names import escape_controls

STYLE = """
:root { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10.5pt; color: #111; }
body { max-width: 190mm; margin: 12mm auto; }
h1 { font-size: 17pt; margin: 0 0 2mm 0; }
h2 { font-size: 12.5pt; margin: 7mm 0 2mm 0; border-bottom: 1px solid #444; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { border: 1px solid #999; padding: 1.2mm 1.5mm; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #eee; }
table.kv th { width: 38mm; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; }
.timeline { font-size: 8.5pt; }
.verdict { padding: 3mm; border: 2px solid; font-weight: bold; margin: 3mm 0; }
.ok { border-color: #1a7f37; background: #e6f4ea; }
.fail { border-color: #b3261e; background: #fde7e7; }
.signoff { border: 1px solid #444; padding: 3mm; margin: 3mm 0; break-inside: avoid; }
.signoff .line { display: inline-block; width: 80mm; border-bottom: 1px solid #000; height: 9mm; }
.signoff td { border: none; }
.meta { color: #444; font-size: 9pt; }
@page { margin: 12mm; }
@media print {
  body { max-width: none; margin: 0; }
  thead { display: table-header-group; }
  tr, .verdict { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"""


def _e(value: Any) -> str:
    if value is None or value == "":
        return "—"
    # Control characters (ESC, BEL, CR) would run in a terminal that shows the file: made visible
    return html.escape(escape_controls(str(value)), quote=True)


def _kv(rows: list[tuple[str, Any]], hash_keys: tuple[str, ...] = ()) -> str:
    hash_class = ' class="hash"'
    body = "".join(f"<tr><th>{_e(k)}</th><td{hash_class if k in hash_keys else ''}>{_e(v)}</td></tr>"
                   for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _summary(doc: dict[str, Any]) -> str:
    t = doc["transfer"]
    trusted = {True: "yes", False: "NO (untrusted signer)", None: "not checked (no index at hand)"}
    return _kv([("Bundle", t.get("bundle")), ("Size (bytes)", t.get("size")),
                ("Transfer id", t.get("transfer_id")), ("Created", t.get("created") or t.get("packed")),
                ("Chunks", t.get("chunks")), ("Signing key id", t.get("signer")),
                ("Index signature trusted", trusted.get(t.get("index_trusted"))),
                ("Events in the log", len(doc["events"])), ("Chain head (BLAKE3)", doc.get("head"))],
               hash_keys=("Transfer id", "Chain head (BLAKE3)"))


def _digests(doc: dict[str, Any]) -> str:
    rows = [(alg.upper() if alg == "sha256" else alg, value) for alg, value in doc["digests"].items()]
    return _kv(rows or [("none recorded", "")], hash_keys=tuple(r[0] for r in rows))


def _verification(doc: dict[str, Any]) -> str:
    v = doc["verification"]
    verdict = ("PASS: every copy of the log is an unbroken hash chain with a valid signed head"
               if v["ok"] else f"FAIL: {v['first_problem']}")
    rows = "".join(f"<tr><td class=\"hash\">{_e(c['where'])}</td><td>{_e(c['events'])}</td>"
                   f"<td>{_e(c['chain'])}</td><td>{_e(c['head'])}</td></tr>" for c in v["copies"])
    forks = f"<p>Forks (two events with one sequence number): {_e(v['forks'])}</p>" if v["forks"] else ""
    return (f'<div class="verdict {"ok" if v["ok"] else "fail"}">{_e(verdict)}</div>{forks}'
            '<table><thead><tr><th style="width:40%">Copy of the log</th><th style="width:9%">Events</th>'
            f'<th>Chain</th><th>Signed head</th></tr></thead><tbody>{rows}</tbody></table>')


def _drives(doc: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td class=\"hash\">{_e(d.get('path'))}</td><td>{_e(d.get('label'))}</td>"
        f"<td class=\"hash\">{_e(d.get('fs_uuid') or d.get('fsid'))}</td><td>{_e(d.get('serial'))}</td>"
        f"<td>{_e(d.get('fs_type'))}</td><td>{_e(chunk_sets.describe(chunk_sets.union(chunk_sets.event_ranges(d))))}</td></tr>"
        for d in doc["drives"])
    return ("<table><thead><tr><th>Mount / path</th><th>Label</th><th>FS UUID / id</th><th>Serial</th>"
            f"<th>FS</th><th>Chunks</th></tr></thead><tbody>{rows}</tbody></table>")


def _what(event: dict[str, Any]) -> str:
    parts = []
    if event.get("chunks"):
        chunks = event["chunks"]
        parts.append(f"chunks {chunks[0]}–{chunks[-1]}" if len(chunks) > 3 else
                     "chunk " + ", ".join(map(str, chunks)))
    elif event.get("chunk_ranges"):
        count = (event.get("details") or {}).get("chunk_count")
        parts.append(f"chunks {chunk_sets.describe(chunk_sets.event_ranges(event))}"
                     + (f" ({count})" if isinstance(count, int) else ""))
    for alg, value in event.get("digests", {}).items():
        parts.append(f"{alg} {value[:16]}…")
    if event.get("handover"):
        h = event["handover"]
        parts.append(f"{h.get('from')} → {h.get('to')}" + (f", seal {h['seal']}" if h.get("seal") else ""))
    media = event.get("media") or {}
    if media.get("path"):  # the full identity is in the drives table
        parts.append(f"on {media.get('label') or media['path'].rstrip('/').rsplit('/', 1)[-1]}")
    return "; ".join(parts)


def _timeline(doc: dict[str, Any]) -> str:
    rows = []
    for e in doc["events"]:
        actor = e.get("actor", {})
        who = actor.get("operator") or actor.get("user")
        if actor.get("title"):
            who = f"{who} ({actor['title']})"
        local = (e.get("local_time") or "")[11:]
        rows.append(f"<tr><td>{_e(e['seq'])}</td><td>{_e(e['time'][:19].replace('T', ' '))}Z<br>"
                    f"<span class=\"meta\">local {_e(local)} {_e(e.get('tz'))}</span></td>"
                    f"<td>{_e(e['type'])}</td><td>{_e(who)}<br><span class=\"meta\">{_e(e.get('host'))}</span></td>"
                    f"<td>{_e(_what(e))}</td><td>{_e(e['result'])}</td>"
                    f"<td class=\"hash\">{_e(e['hash'][:16])}…</td></tr>")
    return ('<table class="timeline"><thead><tr><th style="width:7%">Seq</th><th style="width:18%">Time</th>'
            '<th style="width:13%">Event</th><th style="width:14%">Actor / host</th><th>Details</th>'
            f'<th style="width:7%">Result</th><th style="width:14%">Hash</th></tr></thead><tbody>'
            f'{"".join(rows)}</tbody></table>')


def _signoffs(doc: dict[str, Any]) -> str:
    if not doc["handovers"]:
        return "<p>No handover was recorded.</p>"
    blocks = []
    for e in doc["handovers"]:
        h = e.get("handover", {})
        blocks.append(
            f'<div class="signoff"><strong>Handover, event {_e(e["seq"])}</strong> — {_e(e["time"])}<br>'
            f'From <strong>{_e(h.get("from"))}</strong> to <strong>{_e(h.get("to"))}</strong>; '
            f'seal {_e(h.get("seal"))}; purpose {_e(h.get("purpose"))}; location {_e(h.get("location"))}'
            f'<table><tr><td>Released by (signature):</td><td><span class="line"></span></td></tr>'
            f'<tr><td>Received by (signature):</td><td><span class="line"></span></td></tr>'
            f'<tr><td>Date and time:</td><td><span class="line"></span></td></tr></table></div>')
    return "".join(blocks)


def to_html(doc: dict[str, Any]) -> str:
    t = doc["transfer"]
    generated = doc["generated"]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>Chain of custody — {_e(t.get("bundle"))}</title><style>{STYLE}</style></head><body>'
        f'<h1>Chain-of-custody report</h1><p class="meta">Generated {_e(generated["time"])} by '
        f'{_e(generated["actor"].get("operator") or generated["actor"].get("user"))} with '
        f'{_e(generated["tool"])}</p>'
        f'<h2>Transfer summary</h2>{_summary(doc)}'
        f'<h2>Verification</h2>{_verification(doc)}'
        f'<h2>Bundle digests</h2>{_digests(doc)}'
        f'<h2>Drives</h2>{_drives(doc)}'
        f'<h2>Timeline</h2>{_timeline(doc)}'
        f'<h2>Handover sign-off</h2>{_signoffs(doc)}'
        '</body></html>\n')
