"""Every text a reader sees goes through gettext: a pseudo-language finds the ones that
escaped it.

The pseudo catalogue is made in memory from the messages extracted from code and
templates (as babel.cfg extracts them): each translation is the English text between
markers, "⟦Programme⟧", plurals likewise. Installed as language `qps`, every public and
organiser page, an error page, each kind of mail and the API's error messages are
rendered in it; what a reader sees (text, and the accessible names in aria-label,
title, alt and placeholder) must then be markers, data (the programme's and
attendees' own texts, keys, addresses), what Babel formats (dates, countries,
languages, numbers), and punctuation. Anything else is English that no translator
would ever see: the failure names it with its surroundings."""

from __future__ import annotations

import email.utils
import io
import re
from collections.abc import Iterable
from datetime import timedelta
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import icalendar
import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.support import Translations

from festival.core import i18n, times
from festival.mail import compose, outbox
from festival.programme import places
from festival.seats import registrations
from festival.web import templating
from tests.helpers import BASE_URL, csrf_of, ids, post_form, sql

ROOT = Path(__file__).resolve().parents[2]
PSEUDO = "qps"  # a language that does not exist: the catalogue of markers
OPEN, CLOSE = "⟦", "⟧"
INNERMOST = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")
SEEN_ATTRIBUTES = ("aria-label", "title", "alt", "placeholder")


def extracted_messages() -> Iterable[str | tuple[str, ...]]:
    """The messages of code and templates, as babel.cfg extracts them."""
    method_map = [("festival/**.py", "python"), ("templates/**.html", "jinja2"),
                  ("templates/**.txt", "jinja2")]
    options = {pattern: {"extensions": "jinja2.ext.i18n", "trim_blocks": "True",
                         "lstrip_blocks": "True"}
               for pattern, method in method_map if method == "jinja2"}
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options):
        yield message


def pseudo_translations() -> Translations:
    catalog = Catalog(locale="en")  # English plural rules: one form and the other
    for message in extracted_messages():
        if isinstance(message, tuple):
            catalog.add(message[:2], tuple(f"{OPEN}{m}{CLOSE}" for m in message[:2]))
        else:
            catalog.add(message, f"{OPEN}{message}{CLOSE}")
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


@pytest.fixture
def pseudo(app: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The pseudo-language installed beside the shipped ones; formatted as British
    English by Babel."""
    monkeypatch.setitem(i18n.CATALOGUES, PSEUDO, pseudo_translations())
    monkeypatch.setitem(i18n.FORMAT_LOCALES, PSEUDO, "en_GB")
    locales = [*i18n.LOCALES, PSEUDO]
    monkeypatch.setattr(i18n, "LOCALES", locales)
    monkeypatch.setattr(templating, "LOCALES", locales)
    monkeypatch.setitem(app.state.templates.globals, "locales", locales)
    return PSEUDO


# --- what a reader sees ------------------------------------------------------------------

class SeenText(HTMLParser):
    """The text of a page and the accessible names in its attributes; not scripts, and
    not <code> (keys, identifiers and recorded values, shown as they are stored)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code"):
            self.hidden += 1
        self.parts += [value for name, value in attrs if name in SEEN_ATTRIBUTES and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code"):
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def feed_texts(body: bytes) -> str:
    """What a calendar app shows of a feed: its name, each event's texts. (Wrapped in a
    <pre> so that it reads as a page.)"""
    calendar = icalendar.Calendar.from_ical(body)
    name = str(calendar.get("X-WR-CALNAME", ""))  # an X- property: read back escaped
    texts = [re.sub(r"\\([\\;,])", r"\1", name)]
    for event in calendar.walk("VEVENT"):
        texts += [str(event.get(name, "")) for name in ("SUMMARY", "DESCRIPTION", "LOCATION")]
    return "<pre>" + html_escape("\n".join(texts)) + "</pre>"


def seen_in_html(html: str) -> str:
    parser = SeenText()
    parser.feed(html)
    return " ".join(parser.parts)


def babel_words() -> set[str]:
    """What Babel writes in British English: day and month names, countries and
    languages; and each shipped language's name for itself."""
    locale = Locale.parse("en_GB")
    words: set[str] = set()
    for context in ("format", "stand-alone"):
        for width in ("wide", "abbreviated"):
            words.update(locale.months[context][width].values())
            words.update(locale.days[context][width].values())
    words.update(locale.territories.values())
    words.update(locale.languages.values())
    words.update(i18n.locale_name(code) for code in i18n.CATALOGUES)
    return words


# The columns that hold people's own texts: names, titles, addresses, keys. (Not
# statuses, kinds or roles: those are shown through gettext, or as <code>.)
DATA_COLUMNS = {
    "editions": ("key", "name"),
    "venues": ("key", "name", "city", "country", "address", "timezone", "notes"),
    "films": ("key", "title", "synopsis", "director", "notes", "title_i18n", "synopsis_i18n"),
    "guests": ("key", "name", "role", "organisation", "bio", "notes", "role_i18n"),
    "screenings": ("key", "debate_title", "debate_description", "notes",
                   "debate_title_i18n", "debate_description_i18n"),
    "registrations": ("name", "email", "token"),
    "organisers": ("email", "country"),
}


async def data_texts(app: Any) -> set[str]:
    """Every text of people's own the database holds (the programme, attendees,
    organisers), translations too, and the venues' zone labels ("CET (UTC+01:00)")."""
    texts = {BASE_URL, *email.utils.parseaddr(app.state.settings.mail_from)}
    for table, columns in DATA_COLUMNS.items():
        for row in await app.state.db.fetch_all(f"SELECT {', '.join(columns)} FROM {table}"):
            for name, value in dict(row).items():
                if isinstance(value, str) and value:
                    texts.add(value)
                    texts.update(i18n.translations_of(value).values()
                                 if name.endswith("_i18n") else ())
    for row in await app.state.db.fetch_all("SELECT starts_at, ends_at, timezone FROM screenings"):
        for instant in (row["starts_at"], row["ends_at"]):
            texts.add(i18n.zone_label(times.to_local(instant, row["timezone"])))
    # The IANA names a venue's time zone is picked from: identifiers, like keys.
    texts.update(name for _region, names in places.zone_groups() for name in names)
    return texts


def untranslated(seen: str, data: set[str]) -> list[str]:
    """The English left once markers, links, data and Babel's words are taken out, each
    with what surrounds it."""
    text = re.sub(r"\b(?:https?|webcal)://\S+", " ", seen)  # links are addresses, not words
    while INNERMOST.search(text):
        text = INNERMOST.sub(" ", text)
    known = "|".join(re.escape(d) for d in sorted(data, key=len, reverse=True) if d.strip())
    text = re.sub(rf"(?<!\w)(?:{known})(?!\w)", " ", text)
    left: dict[str, str] = {}
    for match in re.finditer(r"[^\W\d_]+", text):
        around = text[max(0, match.start() - 50): match.end() + 50]
        left.setdefault(match.group(), f"…{' '.join(around.split())}…")
    return [f"{word!r} in {around}" for word, around in left.items()]


# --- the pages -------------------------------------------------------------------------------

async def public_pages(app: Any, client: httpx.AsyncClient) -> dict[str, str]:
    """Every kind of public page in the pseudo-language, with attendees of each kind."""
    screenings, venues, films = (await ids(app), await ids(app, "venues"),
                                 await ids(app, "films"))
    pages: dict[str, str] = {}

    async def get(path: str) -> None:
        response = await client.get(path)
        pages[path] = response.text

    await get(f"/?lang={PSEUDO}")  # the switch: the cookie carries it from here on
    for path in ("/", "/?country=NL&step_free=1", "/?q=no+such+film", "/subscribe",
                 "/tickets/lost", "/nowhere", "/privacy/deleted",
                 *(f"/screenings/{i}" for i in screenings.values()),
                 *(f"/venues/{i}" for i in venues.values()),
                 *(f"/films/{i}" for i in films.values())):
        await get(path)
    hague = f"/screenings/{screenings['hague']}"
    refused = await post_form(client, hague, f"{hague}/register", name="", email="nope",
                              seats="99")
    pages["registration refused"] = refused.text
    lost = await post_form(client, "/tickets/lost", email="nobody@example.org")
    pages["lost ticket sent"] = lost.text
    # A confirmed, a waiting and a cancelled ticket, the attendee's own page.
    await sql(app, "UPDATE screenings SET capacity = 1 WHERE key = 'kathmandu'")
    tokens = {}
    for key, who in (("hague", "ana"), ("kathmandu", "ben"), ("kathmandu", "cy"),
                     ("sydney", "dee")):
        path = f"/screenings/{screenings[key]}"
        answer = await post_form(client, path, f"{path}/register", name=who.title(),
                                 email=f"{who}@example.org", seats="1")
        assert answer.status_code == 303, answer.text
        tokens[who] = answer.headers["location"].split("?")[0].rsplit("/", 1)[1]
    page = await client.get(f"/tickets/{tokens['dee']}")
    await client.post(f"/tickets/{tokens['dee']}/cancel",
                      data={"csrf_token": csrf_of(page.text)})
    for who, token in tokens.items():
        await get(f"/tickets/{token}")
        pages[f"ticket of {who}"] = pages.pop(f"/tickets/{token}")
    again = await post_form(client, hague, f"{hague}/register", name="Ana",
                            email="ana@example.org", seats="1")
    pages["registered again"] = (await client.get(again.headers["location"])).text
    secret = await app.state.db.fetch_one("SELECT secret FROM attendees WHERE email_key = ?",
                                          ("ana@example.org",))
    await get(f"/my/{secret['secret']}")
    pages["my registrations"] = pages.pop(f"/my/{secret['secret']}")
    # Seats held until the address is confirmed: the ticket and the confirmation page.
    await registrations.set_email_confirmation(app.state.db, "2099", required=True,
                                               hold_minutes=30)
    mexico = f"/screenings/{screenings['mexico-late']}"
    held = await post_form(client, mexico, f"{mexico}/register", name="Eve",
                           email="eve@example.org", seats="2")
    token = held.headers["location"].split("?")[0].rsplit("/", 1)[1]
    pages["held ticket"] = (await client.get(f"/tickets/{token}")).text
    code = await app.state.db.fetch_one("SELECT confirm_code FROM registrations WHERE token = ?",
                                        (token,))
    pages["confirm"] = (await client.get(f"/tickets/{token}/confirm?code="
                                         f"{code['confirm_code']}")).text
    pages["confirm refused"] = (await client.get(f"/tickets/{token}/confirm?code=wrong")).text
    # Mail of every other kind: a promotion, a hold run out, a move and a cancellation.
    await registrations.cancel(app.state.db, tokens["ben"])  # Cy moves up
    await registrations.expire_holds(app.state.db, now=times.utc_now() + timedelta(hours=1))
    for key, change in (("hague", "starts_at = '2099-12-13T19:00:00Z'"),
                        ("kathmandu", "status = 'cancelled'")):
        async with app.state.db.transaction() as conn:
            await conn.execute(f"UPDATE screenings SET {change} WHERE key = ?", (key,))
            kind = "screening_changed" if key == "hague" else "screening_cancelled"
            await registrations.notify_registrants(conn, screenings[key], kind)
    # The feeds, public and the attendee's own.
    for path in ("/feeds/festival.ics", f"/feeds/tickets/{tokens['ana']}.ics",
                 f"/feeds/my/{secret['secret']}.ics", f"/screenings/{screenings['hague']}.ics"):
        body = (await client.get(path, params={"lang": PSEUDO})).content
        pages[path] = feed_texts(body)
    return pages


async def organiser_pages(app: Any, admin: httpx.AsyncClient) -> dict[str, str]:
    screenings, venues, films, guests = (await ids(app), await ids(app, "venues"),
                                         await ids(app, "films"), await ids(app, "guests"))
    pages: dict[str, str] = {}
    await admin.get(f"/admin/?lang={PSEUDO}")
    hague = screenings["hague"]
    # Changes for the audit trail and the outbox: a refused form, a move, a new film.
    film_form = await post_form(admin, "/admin/films/new", title="", year="1700",
                                runtime_minutes="x", languages="french!")
    pages["film form refused"] = film_form.text
    screening_form = await post_form(admin, f"/admin/screenings/{hague}",
                                     film_id=str(films["the-crossing"]),
                                     venue_id=str(venues["humanity-house"]),
                                     starts_at="2099-12-30T19:00", ends_at="2099-12-30T18:00",
                                     capacity="-3", language="??")
    pages["screening form refused"] = screening_form.text
    pages["cancel asked"] = (await admin.get(
        f"/admin/screenings/{screenings['sydney']}/cancel")).text
    await post_form(admin, f"/admin/screenings/{screenings['sydney']}/cancel",
                    f"/admin/screenings/{screenings['sydney']}/status", status="cancelled",
                    confirm="1")
    venue_form = await post_form(admin, "/admin/venues/new", name="", country="XX",
                                 timezone="Mars/Olympus", capacity="")
    pages["venue form refused"] = venue_form.text
    for path in ("/admin/", "/admin/screenings", "/admin/screenings?status=cancelled",
                 "/admin/screenings/new", f"/admin/screenings/{hague}",
                 f"/admin/screenings/{screenings['niamey']}",
                 f"/admin/screenings/{screenings['sydney']}",
                 f"/admin/screenings/{hague}/attendees", f"/admin/screenings/{hague}/door",
                 "/admin/venues", "/admin/venues/new",
                 f"/admin/venues/{venues['humanity-house']}", "/admin/films", "/admin/films/new",
                 f"/admin/films/{films['wallah-je-te-jure']}", "/admin/guests",
                 "/admin/guests/new", f"/admin/guests/{guests['unlisted-guest']}",
                 "/admin/dashboard", "/admin/audit", "/admin/outbox", "/admin/organisers",
                 "/admin/screenings/99999"):
        pages[path] = (await admin.get(path)).text
    door = f"/admin/screenings/{hague}/door"
    pages["door: unknown ticket"] = (await post_form(admin, door, f"{door}/checkins",
                                                     ticket="no-such-ticket")).text
    pages["door: walk-in refused"] = (await post_form(admin, door, f"{door}/walk-ins",
                                                      name="", seats="0")).text
    return pages


async def mails(app: Any) -> dict[str, str]:
    """Every message the outbox holds, composed in the attendee's language (pseudo)."""
    found: dict[str, str] = {}
    rows = await app.state.db.fetch_all("SELECT * FROM outbox ORDER BY id")
    async with app.state.db.reader() as conn:
        for row in rows:
            facts = await outbox.read_facts(conn, kind=row["kind"],
                                            registration_id=row["registration_id"],
                                            message_id=row["message_id"],
                                            queued_at=row["created_at"])
            message = compose.compose(facts, app.state.settings)
            assert message["Content-Language"] == facts.locale
            text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
            found[f"mail {row['kind']} #{row['id']}"] = " ".join(
                [message["Subject"], text, seen_in_html(html)])
    return found


async def test_every_page_and_mail_is_translated(app: Any, client: httpx.AsyncClient,
                                                  programme: Any, pseudo: str,
                                                  sign_in: Any) -> None:
    admin = await sign_in("admin@example.org", "admin", None)
    seen = {name: seen_in_html(html) for name, html in {
        **await public_pages(app, client), **await organiser_pages(app, admin)}.items()}
    registered = await app.state.db.fetch_all("SELECT DISTINCT locale FROM registrations")
    assert [r["locale"] for r in registered] == [PSEUDO]  # the reader's language, remembered
    seen |= await mails(app)
    api = await client.post(f"/api/v1/screenings/{(await ids(app))['hague']}/registrations",
                            json={"name": "", "email": "x", "seats": 0},
                            params={"lang": PSEUDO})
    seen["API error"] = " ".join([api.json()["error"]["message"],
                                  *api.json()["error"]["fields"].values()])
    data = await data_texts(app) | babel_words()
    found = {name: left for name, text in seen.items() if (left := untranslated(text, data))}
    assert not found, "English outside gettext:\n" + "\n".join(
        f"{name}: {word}" for name, words in found.items() for word in words)
