"""The dashboard's downloads: attendees of a whole country or edition as one CSV, and
the dashboard's own figures as CSV. (One screening's attendee list is
festival.seats.door's.)

Choices a reader might question:
- Organisers export their own country only; asking for another answers 403 (Forbidden),
  never an empty file. Admins export any one country or, without one, every country.
- Every export is recorded in the audit trail in its own short transaction, with who,
  which edition and country, and how many registrations it held (never who was in it):
  the file carries names and addresses out of the server.
- The dashboard CSV holds the page's rows: each country, the total, then each
  screening (a `scope` column says which), rates as fractions (0.7778), empty where the
  page shows a dash.
- The attendee file has no ticket tokens, times are at the venue, and every cell a spreadsheet
  would run as a formula is defused (door.safe_cell), the film's title and the venue
  included: organisers type those.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from festival.core import times
from festival.core.store import Database
from festival.organisers import accounts, audit
from festival.seats.door import safe_cell

EDITION_ATTENDEES_SELECT = """
SELECT r.id, r.screening_id, r.name, r.email, r.seats, r.status, r.walk_in,
       r.checked_in_at, s.starts_at, s.timezone, f.title, v.name AS venue_name, v.city,
       v.country
FROM registrations r
JOIN screenings s ON s.id = r.screening_id
JOIN films f ON f.id = s.film_id
JOIN venues v ON v.id = s.venue_id
WHERE s.edition_id = :edition AND (:country = '' OR v.country = :country)
ORDER BY v.country, s.starts_at, s.id, r.id
"""

CSV_HEADER = ("screening", "local_start", "venue", "city", "country", "name", "email",
              "seats", "status", "waitlist_position", "checked_in", "walk_in")


def export_country(organiser: dict[str, Any], country: str = "") -> str:
    """The country an export covers ('' for every country, admins only): an organiser's
    own when they name none; Forbidden for one they do not manage."""
    country = (country or "").strip().upper()
    if organiser["role"] != "admin" and not country:
        country = (organiser.get("country") or "").upper()
    if country or organiser["role"] != "admin":
        accounts.require_country(organiser, country)
    return country


async def edition_attendees(db: Database, organiser: dict[str, Any], edition: dict[str, Any],
                            country: str = "") -> list[dict[str, Any]]:
    """Every registration (any status) of the edition's screenings in `country` (see
    `export_country`), in the order of the file, each with its waitlist position and
    its times at the venue; records the export in the audit trail."""
    country = export_country(organiser, country)
    rows = [dict(r) for r in await db.fetch_all(
        EDITION_ATTENDEES_SELECT, {"edition": edition["id"], "country": country})]
    waiting: dict[int, int] = {}
    for r in rows:
        if r["status"] == "waitlisted":
            waiting[r["screening_id"]] = r["waitlist_position"] = waiting.get(
                r["screening_id"], 0) + 1
        r["starts_local"] = times.to_local(r["starts_at"], r["timezone"])
        r["checked_in_local"] = (times.to_local(r["checked_in_at"], r["timezone"])
                                 if r["checked_in_at"] else None)
    async with db.transaction() as conn:
        await audit.record(conn, organiser.get("id"), "edition.export_attendees", "edition",
                           edition["id"], None,
                           {"country": country or None, "registrations": len(rows)})
    return rows


def _local_text(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def attendees_csv(rows: list[dict[str, Any]]) -> bytes:
    """Rows (from `edition_attendees`) to UTF-8 CSV with a BOM (Excel reads the accents
    right), times at the venue, formula-like cells defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        writer.writerow([safe_cell(v) for v in (
            r["title"], _local_text(r["starts_local"]), r["venue_name"], r["city"],
            r["country"], r["name"], r["email"], r["seats"], r["status"],
            r.get("waitlist_position") or "", _local_text(r["checked_in_local"]),
            "yes" if r["walk_in"] else "")])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


DASHBOARD_HEADER = ("scope", "country", "screening", "venue", "city", "local_start", "status",
                    "screenings", "cancelled", "capacity", "confirmed", "confirmed_seats",
                    "fill_rate", "waiting", "waiting_seats", "waitlist_rate", "walk_in_seats",
                    "check_in_rate", "no_show_rate")


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def dashboard_csv(data: dict[str, Any]) -> bytes:
    """The dashboard (overview.dashboard's answer) as UTF-8 CSV with a BOM: a row per
    country, the total row, then a row per screening listed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(DASHBOARD_HEADER)

    def figures(row: dict[str, Any]) -> list[Any]:
        return [row["capacity"], row["confirmed"], row["confirmed_seats"],
                _rate(row["fill_rate"]), row["waiting"], row["waiting_seats"],
                _rate(row["waitlist_rate"]), row["walk_in_seats"],
                _rate(row["check_in_rate"]), _rate(row["no_show_rate"])]

    for scope, row in [*(("country", c) for c in data["countries"]), ("total", data["total"])]:
        writer.writerow([safe_cell(v) for v in (
            scope, row["country"], "", "", "", "", "", row["screenings"], row["cancelled"],
            *figures(row))])
    for s in data["screenings"]:
        writer.writerow([safe_cell(v) for v in (
            "screening", s["country"], s["title"], s["venue_name"], s["city"],
            _local_text(s["starts_local"]), s["status"], "", "", *figures(s))])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def csv_filename(kind: str, edition_key: str, country: str = "") -> str:
    """'attendees-2016-NL.csv', 'dashboard-2016-all.csv': kept to characters every file
    system and Content-Disposition parser accepts."""
    stem = f"{kind}-{edition_key}-{country or 'all'}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem)[:150] + ".csv"
