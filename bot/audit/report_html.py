"""The audit report as one HTML page (bot/audit/report.py gathers what it shows).

Self-contained on purpose: the style is inline, the charts are inline SVG (no xmlns URL needed inside HTML),
there is no script and no link, image or font to fetch. Every piece of text goes through `esc` (html.escape),
since names, tickets and comments come from people and vendors.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from bot.audit.report import AuditReport, Leaver, median

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1d1d1f;max-width:80rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
h3{font-size:1.05rem;margin:1.4rem 0 .4rem}.meta{color:#555}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #ddd;padding:.3rem .45rem;text-align:left;vertical-align:top}th{background:#f4f4f6}
.ok{color:#137333;font-weight:600}.bad{color:#b3261e;font-weight:600}.open{color:#8a5a00;font-weight:600}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem}
.card strong{display:block;font-size:1.5rem}code{font-size:.82rem;word-break:break-all}
@media print{body{margin:0}h2{break-before:auto}}
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, raw: bool = False) -> str:
    """A table; cells are escaped unless `raw` (cells already built from escaped parts)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: AuditReport) -> str:
    last = report.end - timedelta(microseconds=1)
    period = f"{report.start:%Y-%m-%d} to {last:%Y-%m-%d}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc('Offboarding audit report ' + period)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Offboarding audit report</h1><p class=\"meta\">Period {esc(period)} (both days included), "
        f"generated {esc(when(report.generated_at))}. All times UTC. Deadline: access verified removed within "
        f"{esc(f'{report.deadline_hours:g}')} hours of leaving.</p>",
        _summary(report),
        _chain(report),
        _leavers(report),
        _reviews(report),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# -- summary -------------------------------------------------------------------------------------------
def _summary(report: AuditReport) -> str:
    counts = report.counts
    cards = [("Leavers", counts["leavers"]), ("Removal verified", counts["verified"]),
             ("Deadline met", counts["deadline_met"]), ("Deadline missed", counts["deadline_missed"]),
             ("Still open", counts["deadline_open"]), ("Rejected or withdrawn", counts["deadline_none"]),
             ("Manual confirmations", counts["manual_confirmations"]),
             ("Assets handed over", counts["assets_handed_over"])]
    card_html = "".join(f'<div class="card" data-count="{esc(label)}"><strong>{esc(value)}</strong>{esc(label)}</div>'
                        for label, value in cards)
    hours = report.hours_to_verified()
    rows = [[report.label(v), str(len(values)), f"{median(values):.1f}", f"{max(values):.1f}"]
            for v, values in sorted(hours.items())]
    seats = report.seats_freed()
    seat_rows = []
    for vendor, freed in seats.items():
        value = report.seat_value(vendor)
        seat_rows.append([report.label(vendor), str(freed), "—" if value is None else f"{value:,.2f} per month"])
    return "\n".join([
        '<h2 id="summary">Summary</h2>', f'<div class="cards">{card_html}</div>',
        "<h3>Time to verified removal, per tool</h3>",
        _bar_chart("hours-chart", [(report.label(v), median(vals), max(vals)) for v, vals in sorted(hours.items())],
                   report.deadline_hours) if hours else "<p>No removal was verified in this period.</p>",
        table(["Tool", "Removals verified", "Median hours", "Longest hours"], rows) if rows else "",
        "<h3>Deadline compliance</h3>",
        _compliance_chart(counts["deadline_met"], counts["deadline_missed"], counts["deadline_open"]),
        "<h3>Seats freed</h3>",
        table(["Tool", "Seats freed", "Saving (OFFBOARD_SEAT_COST)"], seat_rows) if seat_rows
        else "<p>No seat was freed in this period.</p>",
    ])


def _bar_chart(chart_id: str, bars: Sequence[tuple[str, float, float]], deadline: float) -> str:
    """Horizontal bars (median hours), a tick for the longest, a dashed line at the deadline."""
    width, label_w, row_h = 640, 130, 28
    top = max([deadline, *(b[2] for b in bars)]) or 1.0
    scale = (width - label_w - 60) / top
    height = row_h * len(bars) + 30
    items = []
    for index, (label, mid, longest) in enumerate(bars):
        y = 10 + index * row_h
        items.append(
            f'<g class="bar" data-tool="{esc(label)}" data-median-hours="{mid:.1f}">'
            f'<text x="0" y="{y + 15}" font-size="12">{esc(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{max(1.0, mid * scale):.1f}" height="18" fill="#4a78c2"/>'
            f'<line x1="{label_w + longest * scale:.1f}" x2="{label_w + longest * scale:.1f}" y1="{y}" '
            f'y2="{y + 18}" stroke="#1d1d1f" stroke-width="2"/>'
            f'<text x="{label_w + max(mid, longest) * scale + 6:.1f}" y="{y + 14}" font-size="11">'
            f'{esc(f"median {mid:.1f} h, longest {longest:.1f} h")}</text></g>')
    x = label_w + deadline * scale
    items.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="4" y2="{height - 18}" stroke="#b3261e" '
                 f'stroke-dasharray="4 3"/><text x="{x - 3:.1f}" y="{height - 4}" font-size="11" fill="#b3261e" '
                 f'text-anchor="end">'
                 f'{esc(f"deadline {deadline:g} h")}</text>')
    return (f'<svg id="{chart_id}" role="img" aria-label="Hours from leaving to verified removal, per tool" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">{"".join(items)}</svg>')


def _compliance_chart(met: int, missed: int, still_open: int) -> str:
    total = met + missed + still_open
    if not total:
        return "<p>No leaver in this period.</p>"
    width, x, parts = 640, 0.0, []
    for name, count, colour in (("met", met, "#137333"), ("missed", missed, "#b3261e"),
                                ("open", still_open, "#c9a227")):
        share = width * count / total
        if count:
            parts.append(f'<rect class="segment" data-state="{name}" data-count="{count}" x="{x:.1f}" y="0" '
                         f'width="{share:.1f}" height="22" fill="{colour}"/>')
        x += share
    legend = f"met {met}, missed {missed}, open {still_open} of {total}"
    percent = f" ({100 * met / (met + missed):.0f}% of decided leavers on time)" if met + missed else ""
    return (f'<svg id="compliance-chart" role="img" aria-label="{esc(legend)}" width="{width}" height="40" '
            f'viewBox="0 0 {width} 40">{"".join(parts)}<text x="0" y="36" font-size="12">{esc(legend + percent)}'
            f"</text></svg>")


# -- the chain ------------------------------------------------------------------------------------------
def _chain(report: AuditReport) -> str:
    chain = report.chain
    if chain.ok:
        verdict = (f'<p class="ok" id="chain-verdict">✓ The audit chain is intact: {chain.entries} entries, head '
                   f"entry {chain.head_seq}, hash <code>{esc(chain.head_hash)}</code>.</p>")
    else:
        problem = chain.problem
        assert problem is not None
        verdict = (f'<p class="bad" id="chain-verdict">✗ The audit chain is broken at entry {problem.seq} '
                   f"({esc(problem.kind)}): {esc(problem.message)}</p>")
    parts = ['<h2 id="chain">Audit chain</h2>', verdict]
    witnessed = report.witness
    if witnessed is None:
        parts.append('<p class="open" id="witness-verdict">Not checked against witnessed heads (run '
                     "<code>offboard audit report --witness slack</code>).</p>")
    elif witnessed.ok:
        parts.append(f'<p class="ok" id="witness-verdict">✓ Every witnessed head is in the chain as signed: '
                     f"{witnessed.matched} of {witnessed.heads}, read from {esc(report.witness_source)}.</p>")
    else:
        findings = "".join(f"<li>{esc(f.kind.replace('_', ' '))}: {esc(f.message)}</li>" for f in witnessed.findings)
        none = "" if witnessed.heads else "<li>no signed head was found</li>"
        parts.append(f'<div class="bad" id="witness-verdict">✗ The chain does not hold its witnessed heads (read '
                     f"from {esc(report.witness_source)}):<ul>{findings}{none}</ul></div>")
    if witnessed is not None and witnessed.other_keys:
        parts.append(f"<p>Heads signed with other keys ({esc(', '.join(witnessed.other_keys))}) were not checked "
                     "with this one.</p>")
    if report.witnessed_heads:
        rows = [[str(h.seq), f"<code>{esc(h.hash)}</code>", esc(h.at), esc(h.witnessed_at if h.slack_ts else "—"),
                 esc(h.key_id)] for h in report.witnessed_heads[-20:]]
        parts.append("<h3>Witnessed heads (the latest 20)</h3>")
        parts.append(table(["Entry", "Hash", "Signed at", "Posted to Slack at", "Key"], rows, raw=True))
    return "\n".join(parts)


# -- per leaver --------------------------------------------------------------------------------------------
def _leavers(report: AuditReport) -> str:
    if not report.leavers:
        return '<h2 id="leavers">Leavers</h2><p>No offboarding in this period.</p>'
    overview = table(
        ["Request", "Who", "Left (termination or effective)", "Reason", "Source", "Approved by", "Verified removed",
         "Deadline"],
        [[f"#{leaver.request_id}", _who(leaver), when(leaver.left_at), leaver.reason, leaver.source,
          "; ".join(f"{d.by} at {when(d.at)}" for d in leaver.approvals) or "no approval recorded",
          when(leaver.verified_at), _deadline_text(leaver)] for leaver in report.leavers])
    details = "".join(_leaver_details(report, leaver) for leaver in report.leavers)
    return f'<h2 id="leavers">Leavers</h2>{overview}{details}'


def _who(leaver: Leaver) -> str:
    name = f" ({leaver.name})" if leaver.name else ""
    return f"{leaver.who}{name}" + (" [personal data purged after retention]" if leaver.purged else "")


def _deadline_text(leaver: Leaver) -> str:
    due = f" (due {when(leaver.deadline)})" if leaver.deadline else ""
    return f"{leaver.deadline_state}{due}"


def _leaver_details(report: AuditReport, leaver: Leaver) -> str:
    head = (f'<section class="leaver" id="request-{leaver.request_id}" data-deadline="{esc(leaver.deadline_state)}">'
            f"<h3>Request #{leaver.request_id}: {esc(_who(leaver))}</h3>"
            f'<p class="meta">{esc(leaver.reason)}, {esc(leaver.mode.replace("_", " "))}, ticket '
            f"{esc(leaver.ticket or 'none')}; asked by "
            f"{esc(leaver.requested_by)} at {esc(when(leaver.requested_at))} via {esc(leaver.source)}; status "
            f"{esc(leaver.status.replace('_', ' '))}.</p>")
    tools = table(["Tool", "Outcome", "Removed at", "Verified at", "By"],
                  [[report.label(t.vendor), t.state.replace("_", " "), when(t.removed_at), when(t.verified_at),
                    ", ".join(t.by)] for t in leaver.tools])
    parts = [head, tools]
    if leaver.manual:
        parts.append("<h4>Manual confirmations</h4>" + table(
            ["Tool", "Step", "Confirmed by", "At"],
            [[report.label(m.vendor), m.step, m.by, when(m.at)] for m in leaver.manual]))
    if leaver.assets:
        parts.append("<h4>Assets handed over</h4>" + table(
            ["Tool", "Kind", "Name", "Project", "From", "To", "Done"],
            [[report.label(a.vendor), a.kind, a.name, a.project, a.from_email, a.to_email, a.action]
             for a in leaver.assets]))
    if leaver.rechecks:
        parts.append("<h4>Re-checks after removal</h4>" + table(
            ["Tool", "At", "Result"], [[report.label(r.vendor), when(r.at), r.result] for r in leaver.rechecks]))
    parts.append("</section>")
    return "".join(parts)


# -- access reviews ---------------------------------------------------------------------------------------
def _reviews(report: AuditReport) -> str:
    if not report.reviews:
        return '<h2 id="reviews">Access reviews</h2><p>No access review was made in this period.</p>'
    parts = ['<h2 id="reviews">Access reviews</h2>']
    for review in report.reviews:
        attested = (f'<span class="ok">attested by {esc(review.attested_by)} at {esc(when(review.attested_at))}'
                    "</span>" if review.attested_by else '<span class="bad">not attested</span>')
        parts.append(f'<h3>{esc(review.period)} (made {esc(when(review.started_at))}): {attested}</h3>')
        parts.append(table(["Tool", "Counted"], [[report.label(t), text] for t, text in review.tools]))
    return "\n".join(parts)
