"""`offboard audit report`: a real workflow's offboardings on a real SQLite file become one HTML file that shows,
per leaver and in its summary, what an auditor asks for; read back with html.parser as a browser would see
it (the text, the charts' shapes, no tag or URL that would fetch anything)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli.main import app as cli
from bot.offboarding.values import Reason, RequestDraft
from bot.runtime.config import Settings
from storage import witness
from storage.models import AccessReview, AuditChainHead, AuditEvent
from tests.audit.test_audit_evidence import T0, Seeded, seeded  # noqa: F401 (the fixture)

HOSTILE = "<img src=x onerror=alert(1)>&amp;"


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


class Page(HTMLParser):
    """Every element with its attributes and the text inside it (nested text counts for each ancestor)."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag and all(e.attrs.get(k.replace("_", "-")) == v
                                                                  for k, v in attrs.items())]

    def one(self, tag: str, **attrs: str) -> Element:
        found = self.find(tag, **attrs)
        assert len(found) == 1, (tag, attrs, found)
        return found[0]


def report(seeded: Seeded, tmp_path: Path, *args: str, env: str = "", leavers: int = 4  # noqa: F811
           ) -> tuple[Page, str]:
    env_file = tmp_path / "report.env"
    env_file.write_text(f"DATABASE_URL={seeded.db.url}\nOFFBOARD_SEAT_COST=acme=30\n{env}")
    output = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["audit", "report", "--from", "2026-03-01", "--to", "2026-03-31",
                                      "--output", str(output), "--env-file", str(env_file), *args])
    assert result.exit_code == 0, result.output
    assert f"Wrote the audit report for {leavers} leaver(s)" in result.output
    document = output.read_text(encoding="utf-8")
    return Page(document), document


def add_hostile_leaver_and_review(seeded: Seeded) -> int:  # noqa: F811
    seeded.clock.now = T0 + timedelta(days=3)
    request_id = seeded.workflow.create_request(RequestDraft(
        subject_email="mallory@corp.com", reason=Reason.TERMINATION, requester_id="UREQ", subject_name=HOSTILE,
        ticket="HR-<b>9</b>", vendors=("acme",)))
    seeded.workflow.assess(request_id)
    with seeded.db.session() as session:
        session.add(AccessReview(trigger="schedule", period="2026 Q1", started_at=T0 + timedelta(days=5),
                                 summary={"acme": {"vendor": "acme", "members": 12, "owners": ["o@corp.com"],
                                                   "admins": [], "inactive": 3, "listed": True}},
                                 attested_by="UAUDIT", attested_at=T0 + timedelta(days=6)))
    return request_id


def test_the_report_shows_each_leaver_and_the_summary(seeded: Seeded, tmp_path: Path) -> None:  # noqa: F811
    mallory = add_hostile_leaver_and_review(seeded)
    page, _ = report(seeded, tmp_path)

    cards = {e.attrs["data-count"]: e.words for e in page.find("div", **{"class": "card"})}
    assert cards["Leavers"].startswith("4") and cards["Removal verified"].startswith("1")
    assert cards["Deadline met"].startswith("1") and cards["Rejected or withdrawn"].startswith("1")
    assert cards["Deadline missed"].startswith("2")  # erin's and mallory's requests are long overdue
    assert cards["Manual confirmations"].startswith("3") and cards["Assets handed over"].startswith("2")

    alice = page.one("section", id=f"request-{seeded.alice}")
    assert alice.attrs["data-deadline"] == "met"
    words = alice.words
    assert "alice@corp.com (Alice Anders)" in words and "Resignation" in words and "via Slack" in words
    assert "acme verified 2026-03-02 11:00 UTC 2026-03-02 11:00 UTC offboard" in words
    assert "hand confirmed by hand 2026-03-02 14:30 UTC 2026-03-02 14:30 UTC UAPP1, UAPP2" in words
    assert "Revoke their API keys UAPP2 2026-03-02 13:00 UTC" in words  # manual confirmations: who, when
    assert "dashboard KPIs 1 Production alice@corp.com bob@corp.com" in words  # assets and to whom
    # The test tool still lists everyone after removal, and the bot's own look afterwards says so.
    assert "Re-checks after removal Tool At Result acme 2026-03-02 11:00 UTC still a member" in words

    rows = [e.words for e in page.find("tr")]
    assert any(f"#{seeded.alice} alice@corp.com" in r and "UAPP1 at 2026-03-02 11:00 UTC" in r and "met (due" in r
               for r in rows)
    assert any(f"#{seeded.carol}" in r and "none" in r for r in rows)

    bars = {e.attrs["data-tool"]: float(e.attrs["data-median-hours"]) for e in page.find("g", **{"class": "bar"})}
    assert bars == {"acme": 2.0, "hand": 5.5}
    segments = {e.attrs["data-state"]: int(e.attrs["data-count"]) for e in page.find("rect", **{"class": "segment"})}
    assert segments == {"met": 1, "missed": 2}
    assert "acme 1 30.00 per month" in rows  # seats freed, with OFFBOARD_SEAT_COST

    assert page.one("p", id="chain-verdict").words.startswith("✓ The audit chain is intact")
    assert "Not checked against witnessed heads" in page.one("p", id="witness-verdict").words
    reviews = page.one("h2", id="reviews")
    assert reviews.words == "Access reviews"
    assert any("2026 Q1" in e.words and "attested by UAUDIT at 2026-03-08 09:00 UTC" in e.words
               for e in page.find("h3"))
    assert any("12 members, 1 owners, 0 admins, 3 inactive" in r for r in rows)

    # Text from people is text: the hostile name shows as written and makes no element.
    hostile = page.one("section", id=f"request-{mallory}")
    assert HOSTILE in hostile.words and "ticket HR-<b>9</b>" in hostile.words
    assert not page.find("img") and not page.find("b")


def test_the_report_fetches_nothing(seeded: Seeded, tmp_path: Path) -> None:  # noqa: F811
    add_hostile_leaver_and_review(seeded)
    page, document = report(seeded, tmp_path)
    assert not [e.tag for e in page.elements if e.tag in ("script", "link", "img", "iframe", "object", "embed")]
    assert not [(e.tag, k) for e in page.elements for k, v in e.attrs.items()
                if k in ("src", "href", "srcset", "action", "xmlns") or "://" in v or v.startswith("//")]
    assert "http" not in document and "url(" not in document and "@import" not in document
    assert len(page.find("svg")) == 2


def test_the_report_shows_the_witnessed_heads(seeded: Seeded, tmp_path: Path) -> None:  # noqa: F811
    key_file = tmp_path / "witness.pem"
    key = witness.generate_key_file(key_file)
    with seeded.db.session() as session:
        head = session.get(AuditChainHead, 1)
        assert head is not None
        signed = witness.sign_head(key, head.seq, head.hash, T0 + timedelta(days=9))
    export = tmp_path / "heads.jsonl"
    export.write_text(json.dumps(signed.to_json()) + "\n")
    page, _ = report(seeded, tmp_path, "--witness", str(export), env=f"OFFBOARD_WITNESS_KEY_FILE={key_file}\n",
                     leavers=3)
    assert page.one("p", id="witness-verdict").words.startswith("✓ Every witnessed head is in the chain as signed: "
                                                                "1 of 1")
    assert any(signed.hash in e.words for e in page.find("tr"))
    with seeded.db.session() as session:
        made = session.exec(select(AuditEvent).where(AuditEvent.action == "audit_report_made")
                            .order_by(col(AuditEvent.seq))).all()
    assert len(made) == 1 and made[0].details["rows"] == 3 and made[0].details["format"] == "html"


def test_seat_costs_are_one_number_or_per_tool() -> None:
    assert Settings(_env_file=None, seat_cost="25").seat_cost == {"*": 25.0}
    assert Settings(_env_file=None, seat_cost="posthog=20, Amplitude=49.5").seat_cost == {"posthog": 20.0,
                                                                                            "amplitude": 49.5}
