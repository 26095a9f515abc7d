"""The festival in its attendees' languages: the reader's choice (`?lang=`, the switch
and its cookie, Accept-Language), `<html lang dir>` on every page (right to left for
Arabic), one stylesheet for both directions, and the attendee's language remembered
at registration for every mail and their own calendar feeds; public feeds in the
language their address names.

These tests use the shipped languages but not their texts (translators are still at
work): where a translated text matters, a small catalogue is installed for the test
(tests.helpers.catalogue); dates and country names come from Babel."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from festival.core import i18n, times
from festival.mail import compose, outbox
from festival.seats import registrations
from tests.helpers import ENGLISH_ETAGS, catalogue, english_etags, fixed_stamps, ids, post_form, sql

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.parent.parent.name for p in (ROOT / "festival/locale").glob(
    "*/LC_MESSAGES/messages.po"))
OWN_NAMES = {"ar": "العربية", "en": "English", "es": "español", "fr": "français",
             "nl": "Nederlands"}
FRENCH = {
    "Cancelled: ": "Annulé : ",
    "Your ticket: ": "Votre billet : ",
    "Global Migration Film Festival – my ticket": "Festival – mon billet",
    "Global Migration Film Festival – my registrations": "Festival – mes inscriptions",
    ("Your seat for %(title)s is confirmed", "Your %(num)d seats for %(title)s are confirmed"):
        ("Votre place pour %(title)s est confirmée",
         "Vos %(num)d places pour %(title)s sont confirmées",
         "Vos %(num)d places pour %(title)s sont confirmées"),
}


@pytest.fixture
def french(monkeypatch: pytest.MonkeyPatch) -> None:
    """A few French texts, whatever the shipped French catalogue holds today."""
    monkeypatch.setitem(i18n.CATALOGUES, "fr", catalogue("fr", FRENCH))


def unfolded(body: bytes | str) -> str:
    """An iCalendar text with its folded lines joined again."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return text.replace("\r\n ", "")


def html_tag(html: str) -> str:
    found = re.search(r"<html[^>]*>", html)
    assert found, "no <html> element"
    return found.group(0)


# --- choosing the language ---------------------------------------------------------------------

def test_every_language_under_festival_locale_is_offered() -> None:
    assert i18n.LOCALES == SHIPPED
    assert set(SHIPPED) == set(OWN_NAMES)


async def test_the_switch_names_every_shipped_language_in_itself(
        client: httpx.AsyncClient, programme: Any) -> None:
    html = (await client.get("/?lang=ar")).text
    switch = re.search(r'<nav class="language-switch".*?</nav>', html, re.S)
    assert switch
    for code, name in OWN_NAMES.items():
        assert re.search(rf'<a href="/\?lang={code}" lang="{code}" hreflang="{code}"'
                         rf'( aria-current="true")?>{name}</a>', switch.group(0)), code
    assert 'hreflang="ar" aria-current="true"' in switch.group(0)


async def test_parameter_then_cookie_then_browser_choose_the_language(
        client: httpx.AsyncClient, programme: Any) -> None:
    arabic = await client.get("/", headers={"Accept-Language": "ar-EG, ar;q=0.9, en;q=0.5"})
    assert html_tag(arabic.text) == '<html lang="ar" dir="rtl">'
    chosen = await client.get("/subscribe?lang=es", headers={"Accept-Language": "ar"})
    assert html_tag(chosen.text) == '<html lang="es" dir="ltr">'
    assert chosen.cookies.get("lang") == "es"
    later = await client.get("/", headers={"Accept-Language": "ar"})  # the cookie wins
    assert html_tag(later.text) == '<html lang="es" dir="ltr">'
    unknown = await client.get("/?lang=tlh", headers={"Accept-Language": "de"})
    assert html_tag(unknown.text) == '<html lang="es" dir="ltr">'  # the cookie still holds
    client.cookies.clear()
    assert html_tag((await client.get("/", headers={"Accept-Language": "de"})).text) == \
        '<html lang="en" dir="ltr">'


@pytest.mark.parametrize(("code", "direction"), [("ar", "rtl"), ("fr", "ltr"), ("en", "ltr")])
async def test_every_page_says_its_language_and_direction(
        app: Any, client: httpx.AsyncClient, programme: Any, sign_in: Any, code: str,
        direction: str) -> None:
    """Public pages, organisers' pages and every kind of error page."""
    screenings, venues, films = (await ids(app), await ids(app, "venues"),
                                 await ids(app, "films"))
    hague = f"/screenings/{screenings['hague']}"
    wanted = f'<html lang="{code}" dir="{direction}">'
    await client.get(f"/?lang={code}")
    answers = {path: await client.get(path) for path in (
        "/", hague, f"/venues/{venues['humanity-house']}", f"/films/{films['the-crossing']}",
        "/subscribe", "/tickets/lost", "/privacy/deleted", "/admin/login", "/nowhere",
        "/screenings/99999", "/tickets/" + "x" * 30)}
    answers["405"] = await client.post("/subscribe")
    answers["413"] = await client.post(
        f"{hague}/register", content=b"x" * 70_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    answers["422"] = await post_form(client, hague, f"{hague}/register", name="", email="x",
                                     seats="1")
    admin = await sign_in("admin@example.org", "admin", None)
    await admin.get(f"/admin/?lang={code}")
    for path in ("/admin/", "/admin/screenings", f"/admin/screenings/{screenings['hague']}",
                 "/admin/films/new", "/admin/audit", f"{hague}/attendees".replace(
                     "/screenings", "/admin/screenings"), "/admin/nothing-here"):
        answers[path] = await admin.get(path)
    assert {path: html_tag(r.text) for path, r in answers.items()} == dict.fromkeys(
        answers, wanted)
    assert {r.status_code for r in answers.values()} >= {200, 404, 405, 413, 422}


def test_stylesheets_use_logical_properties_so_one_serves_both_directions() -> None:
    physical = re.compile(r"(?:margin|padding|border|inset)-(?:left|right)\b|"
                          r"(?<![-\w])(?:left|right)\s*:|"
                          r"(?:float|clear|text-align)\s*:\s*(?:left|right)\b")
    for sheet in sorted((ROOT / "static" / "css").glob("*.css")):
        rules = re.sub(r"/\*.*?\*/", "", sheet.read_text("utf-8"), flags=re.S)
        assert physical.findall(rules) == [], sheet.name


async def test_times_and_zones_read_left_to_right_inside_arabic(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    hague = f"/screenings/{(await ids(app))['hague']}"
    html = (await client.get(f"{hague}?lang=ar")).text
    assert '<span class="zone" dir="ltr">CET (UTC+01:00)</span>' in html
    await registrations.set_email_confirmation(app.state.db, "2099", required=True,
                                               hold_minutes=30)
    held = await post_form(client, hague, f"{hague}/register", name="Ana",
                           email="ana@example.org", seats="1")
    ticket = (await client.get(held.headers["location"])).text
    assert '<bdi dir="ltr">CET (UTC+01:00)</bdi>' in ticket  # inside a translated sentence


# --- the attendee's language, remembered -------------------------------------------------------

async def locale_of(app: Any, email: str) -> str:
    row = await app.state.db.fetch_one("SELECT locale FROM registrations WHERE email = ?",
                                       (email,))
    assert row is not None
    return str(row["locale"])


async def test_registering_remembers_the_readers_language(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    sid = (await ids(app))["hague"]
    page = f"/screenings/{sid}"
    await client.get("/?lang=fr")
    await post_form(client, page, f"{page}/register", name="Form", email="form@example.org",
                    seats="1")
    api = f"/api/v1/screenings/{sid}/registrations"
    body = {"name": "Api", "seats": 1}
    browser = await client.post(api, json={**body, "email": "es@example.org"},
                                headers={"Accept-Language": "es-MX,es;q=0.9"})
    chosen = await client.post(f"{api}?lang=ar", json={**body, "email": "ar@example.org"},
                               headers={"Accept-Language": "es"})
    assert (browser.status_code, chosen.status_code) == (201, 201)
    # The API follows the request, not the site's cookie (here: French).
    plain = await client.post(api, json={**body, "email": "en@example.org"})
    assert plain.status_code == 201
    assert [await locale_of(app, f"{who}@example.org") for who in ("form", "es", "ar", "en")
            ] == ["fr", "es", "ar", "en"]


async def composed(app: Any) -> list[tuple[str, EmailMessage]]:
    """Every message in the outbox as the sender would compose it now."""
    found = []
    async with app.state.db.reader() as conn:
        for row in await app.state.db.fetch_all("SELECT * FROM outbox ORDER BY id"):
            facts = await outbox.read_facts(conn, kind=row["kind"],
                                            registration_id=row["registration_id"],
                                            message_id=row["message_id"],
                                            queued_at=row["created_at"])
            found.append((row["kind"], compose.compose(facts, app.state.settings)))
    return found


async def test_every_mail_to_an_attendee_is_in_their_language(
        app: Any, client: httpx.AsyncClient, programme: Any, french: None) -> None:
    """Registered in French: confirmed, cancelled, waitlisted, promoted, held, expired,
    moved, cancelled by organisers, and the ticket asked for again from an English page;
    subject, text, HTML, dates and the invitation's texts all French."""
    db, screenings = app.state.db, await ids(app)
    await sql(app, "UPDATE screenings SET capacity = 1 WHERE key = 'kathmandu'")

    async def register(key: str, who: str) -> dict[str, Any]:
        made, _created = await registrations.register(db, screenings[key], who.title(),
                                                      f"{who}@example.org", 1, locale="fr")
        return made

    await register("hague", "ana")
    ben = await register("kathmandu", "ben")
    await register("kathmandu", "cy")  # waits
    await registrations.cancel(db, ben["token"])  # Cy moves up
    await registrations.set_email_confirmation(db, "2099", required=True, hold_minutes=30)
    await register("mexico-late", "dee")  # held ...
    await registrations.expire_holds(db, now=times.utc_now() + times.timedelta(hours=1))
    for key, kind in (("hague", "screening_changed"), ("kathmandu", "screening_cancelled")):
        async with db.transaction() as conn:
            await registrations.notify_registrants(conn, screenings[key], kind)
    await sql(app, "DELETE FROM outbox WHERE kind = 'confirmed' AND recipient = 'ana@example.org'")
    await post_form(client, "/tickets/lost?lang=en", email="ana@example.org")  # in English
    messages = await composed(app)
    assert sorted({kind for kind, _m in messages}) == sorted(
        ["confirmed", "cancelled", "waitlisted", "promoted", "held", "expired",
         "screening_changed", "screening_cancelled"])
    for kind, message in messages:
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert message["Content-Language"] == "fr", kind
        assert '<html lang="fr" dir="ltr">' in html, kind
        assert "décembre 2099" in text and "décembre 2099" in html, kind  # Babel's dates
        assert "December" not in text, kind
    subjects = {str(m["Subject"]) for kind, m in messages if kind == "confirmed"}
    assert subjects == {"Votre place pour Wallah, Je te jure est confirmée"}
    invites = [m for _k, m in messages if any(
        p.get_content_type() == "text/calendar" for p in m.walk())]
    assert invites
    for message in invites:
        calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        body = unfolded(calendar.get_payload(decode=True))
        assert "Pays-Bas" in body or "Népal" in body  # the place, named in French
        assert "Netherlands" not in body and "Nepal" not in body
    calendars = [unfolded(p.get_payload(decode=True)) for m in invites for p in m.walk()
                 if p.get_content_type() == "text/calendar"]
    assert any("Votre billet : " in body for body in calendars)
    assert any("SUMMARY:Annulé : " in body for body in calendars)


async def test_mail_to_an_arabic_reader_runs_right_to_left(app: Any, programme: Any) -> None:
    await registrations.register(app.state.db, (await ids(app))["hague"], "Layla",
                                 "layla@example.org", 1, locale="ar")
    ((kind, message),) = await composed(app)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert (kind, message["Content-Language"]) == ("confirmed", "ar")
    assert '<html lang="ar" dir="rtl">' in html
    assert '<bdi dir="ltr">CET (UTC+01:00)</bdi>' in html
    assert "ديسمبر" in html  # December, by Babel


# --- calendar feeds --------------------------------------------------------------------------

async def test_an_attendees_own_feeds_are_in_the_language_they_registered_in(
        app: Any, client: httpx.AsyncClient, programme: Any, french: None) -> None:
    made, _ = await registrations.register(app.state.db, (await ids(app))["hague"], "Ana",
                                           "ana@example.org", 1, locale="fr")
    secret = await app.state.db.fetch_one("SELECT secret FROM attendees")
    headers = {"Accept-Language": "en"}
    ticket = unfolded((await client.get(f"/feeds/tickets/{made['token']}.ics",
                                        headers=headers)).content)
    mine = unfolded((await client.get(f"/feeds/my/{secret['secret']}.ics",
                                      headers=headers)).content)
    assert "X-WR-CALNAME:Festival – mon billet" in ticket
    assert "X-WR-CALNAME:Festival – mes inscriptions" in mine
    for body in (ticket, mine):
        assert "Pays-Bas" in body and "Netherlands" not in body
    english = unfolded((await client.get(f"/feeds/tickets/{made['token']}.ics?lang=en")
                        ).content)
    assert "Netherlands" in english and "Pays-Bas" not in english


async def test_english_feeds_keep_their_bytes(app: Any, client: httpx.AsyncClient,
                                              programme: Any) -> None:
    await fixed_stamps(app)
    assert await english_etags(app, client) == ENGLISH_ETAGS
    assert await english_etags(app, client, "?lang=en") == ENGLISH_ETAGS


async def test_public_feeds_are_in_the_language_of_their_address(
        app: Any, client: httpx.AsyncClient, programme: Any, french: None) -> None:
    await fixed_stamps(app)
    client.cookies.set("lang", "fr")  # a cookie does not choose a feed's language
    french_feed = await client.get("/feeds/festival.ics?lang=fr")
    english = await client.get("/feeds/festival.ics", headers={"Accept-Language": "fr"})
    assert "Pays-Bas" in unfolded(french_feed.content)
    assert "SUMMARY:Annulé : " in unfolded(french_feed.content)
    assert "Netherlands" in unfolded(english.content) and "Annulé" not in english.text
    # Each language is its own cache entry: English after French is still English.
    assert english.headers["etag"] == ENGLISH_ETAGS["/feeds/festival.ics"]
    assert french_feed.headers["etag"] != english.headers["etag"]
    again = await client.get("/feeds/festival.ics?lang=fr",
                             headers={"If-None-Match": french_feed.headers["etag"]})
    assert again.status_code == 304


async def test_pages_link_to_feeds_in_the_readers_language(
        app: Any, client: httpx.AsyncClient, programme: Any) -> None:
    hague = (await ids(app))["hague"]
    french = (await client.get("/subscribe?lang=fr")).text
    assert 'value="https://festival.example.org/feeds/festival.ics?lang=fr"' in french
    assert 'href="webcal://festival.example.org/feeds/festival.ics?lang=fr"' in french
    screening = (await client.get(f"/screenings/{hague}")).text
    assert f'href="/screenings/{hague}.ics?lang=fr"' in screening
    english = (await client.get("/subscribe?lang=en")).text
    assert 'value="https://festival.example.org/feeds/festival.ics"' in english
