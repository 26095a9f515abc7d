"""Logs carry no ticket tokens, attendees' secrets or email addresses, at any level:
festival.core.logs masks them in what festival's own loggers write (the mail sender, the
sign-in checks, unexpected errors) and in uvicorn's access log. Checked on records
(caplog), through uvicorn's own formatter, and on the output of a real `festival serve`."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from festival.core import logs
from festival.core.logs import MaskSecrets, mask
from festival.core.settings import Settings
from tests import helpers
from tests.helpers import SAMPLE, build_template, csrf_of, free_port, serve_festival

TOKEN = "O75vbQx3Zr_k-9aPqLm2WcYt8HnEfUjD"  # as secrets.token_urlsafe(24) makes them
ADDRESS = "ana.reyes@example.org"


def filtered(target: logging.Filterer) -> bool:
    return any(isinstance(f, MaskSecrets) for f in target.filters)


def remove_mask_filters() -> None:
    loggers = [logging.getLogger(), *(logging.getLogger(name)
                                      for name in list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for target in [logger, *logger.handlers]:
            for f in [f for f in target.filters if isinstance(f, MaskSecrets)]:
                target.removeFilter(f)
    if logging.lastResort is not None:
        for f in [f for f in logging.lastResort.filters if isinstance(f, MaskSecrets)]:
            logging.lastResort.removeFilter(f)


@pytest.fixture
def uninstalled() -> Iterator[None]:
    """No mask filter anywhere (whatever earlier tests installed); put back afterwards."""
    remove_mask_filters()
    yield
    logs.install()


@pytest.fixture
def caught(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog at DEBUG for every logger, with the mask installed (as the app installs it,
    once pytest's capturing handler is in place)."""
    caplog.set_level(logging.DEBUG)
    logs.install()
    return caplog


def assert_nothing_secret(text: str) -> None:
    assert TOKEN not in text
    assert ADDRESS not in text and "ana.reyes%40example.org" not in text
    assert not re.search(r"[\w.+-]+@example\.org", text.replace("a***@example.org", "")), text


# --- what is masked ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "masked"), [
    (f'"GET /tickets/{TOKEN} HTTP/1.1" 200', '"GET /tickets/*** HTTP/1.1" 200'),
    (f"DELETE /api/v1/registrations/{TOKEN}", "DELETE /api/v1/registrations/***"),
    (f"/feeds/tickets/{TOKEN}.ics", "/feeds/tickets/***.ics"),
    (f"/feeds/my/{TOKEN}.ics", "/feeds/my/***.ics"),
    (f"/my/{TOKEN}", "/my/***"),
    (f"/tickets/{TOKEN}/confirm", "/tickets/***/confirm"),
    (f"/tickets/{TOKEN}/cancel?lang=nl", "/tickets/***/cancel?lang=nl"),
    (f"https://festival.example.org/tickets/{TOKEN}", "https://festival.example.org/tickets/***"),
    (f"/admin/screenings/1/door?ticket={TOKEN}", "/admin/screenings/1/door?ticket=***"),
    (f"/?edition=2016&next=%2Ftickets%2F{TOKEN}", "/?edition=2016&next=***"),
    (f"/x?id={TOKEN}&q=films", "/x?id=***&q=films"),
    ("/?token=short", "/?token=***"),
    (f"sent to {ADDRESS}.", "sent to a***@example.org."),
    ("for 'Ana.Reyes+festival@Example.ORG' from 10.0.0.1",
     "for 'A***@Example.ORG' from 10.0.0.1"),
    ("/admin/screenings?q=ana.reyes%40example.org", "/admin/screenings?q=a***@example.org"),
    ('"ana reyes"@example.org', "a***@example.org"),
    ("smtp://festival:hunter2@mail.example.org:587", "smtp://festival:h***@mail.example.org:587"),
    (f"executing partial(<execute>, 'SELECT * FROM registrations WHERE token = ?', ('{TOKEN}',))",
     "executing partial(<execute>, 'SELECT * FROM registrations WHERE token = ?', ('***',))"),
    ("session 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
     "session ***"),
])
def test_mask_hides_tokens_secrets_and_addresses(text: str, masked: str) -> None:
    assert mask(text) == masked
    assert mask(masked) == masked  # idempotent


@pytest.mark.parametrize("text", [
    "/tickets/lost", "GET /tickets/lost?lang=fr HTTP/1.1", "/screenings/12/registrations",
    "/?edition=gmff-2016&city=the-hague&date=2016-12-13", "/api/v1/screenings/3",
    "/feeds/festival.ics", "mail 12 stays in the outbox", "HTTP/1.1 200 OK",
    "2016-12-13T19:00:00+01:00", "/feeds/cities/the-hague-international-2016.ics",
    "ConnectionRefusedError: [Errno 111]", "test_a_real_servers_output_holds_no_token",
    "550e8400-e29b-41d4-a716-446655440000",
])
def test_mask_keeps_what_is_not_secret(text: str) -> None:
    assert mask(text) == text


# --- on records, at any level ----------------------------------------------------------------

def test_the_mail_senders_failed_delivery_is_masked(caught: pytest.LogCaptureFixture) -> None:
    # As festival.mail.sender logs it, at every level.
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
        logging.getLogger("festival.mail").log(
            level, "mail %s to %s not delivered: %s", 7, ADDRESS,
            f"550 <{ADDRESS}>: no such user")
    assert len(caught.records) == 4
    for record in caught.records:
        assert record.getMessage() == ("mail 7 to a***@example.org not delivered: "
                                       "550 <a***@example.org>: no such user")
    assert_nothing_secret(caught.text)


def test_failed_sign_ins_are_masked(caught: pytest.LogCaptureFixture) -> None:
    logging.getLogger("festival.auth").warning(
        "failed sign-in for %r from %s (%d in a row%s)", ADDRESS, "10.1.2.3", 3, "")
    assert caught.records[0].getMessage() == (
        "failed sign-in for 'a***@example.org' from 10.1.2.3 (3 in a row)")


async def test_registering_and_signing_in_through_the_app_log_no_secret_at_debug(
        app: Any, client: httpx.AsyncClient, programme: dict[str, Any],
        caplog: pytest.LogCaptureFixture) -> None:
    # At DEBUG, aiosqlite logs every statement with its parameters: addresses, tokens.
    caplog.set_level(logging.DEBUG)
    screening = await helpers.screening_id(app)
    made = await client.post(f"/api/v1/screenings/{screening}/registrations",
                             json={"name": "Ana Reyes", "email": ADDRESS, "seats": 1})
    token = made.json()["token"]
    assert (await client.get(f"/tickets/{token}")).status_code == 200
    await helpers.add_organiser(app, ADDRESS)
    answer = await helpers.submit_sign_in(client, ADDRESS, "not-the-password")
    assert answer.status_code == 401
    assert any(r.name == "festival.auth" and r.levelno == logging.WARNING
               for r in caplog.records)
    if app.state.db.dialect == "sqlite":  # aiosqlite logs each statement at DEBUG
        assert any(r.name == "aiosqlite" for r in caplog.records)
    assert token not in caplog.text
    assert_nothing_secret(caplog.text)


def test_exceptions_and_stacks_are_masked(caught: pytest.LogCaptureFixture) -> None:
    try:
        raise ValueError(f"no registration at /tickets/{TOKEN} for {ADDRESS}")
    except ValueError:
        logging.getLogger("festival").exception("unexpected error on %s %s", "GET",
                                                f"/tickets/{TOKEN}", stack_info=True)
    record = caught.records[0]
    assert record.getMessage() == "unexpected error on GET /tickets/***"
    assert record.exc_info is None
    assert "ValueError: no registration at /tickets/*** for a***@example.org" in (
        record.exc_text or "")
    assert "Stack (most recent call last)" in (record.stack_info or "")
    assert_nothing_secret(caught.text)


def test_arguments_that_are_not_text_are_masked_too(caught: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("festival.seats")
    log.info("refused: %s", ValueError(ADDRESS))
    log.info("registration %(token)s for %(email)s", {"token": f"/tickets/{TOKEN}",
                                                      "email": ADDRESS})
    log.info(f"a message built beforehand for {ADDRESS}")
    assert [r.getMessage() for r in caught.records] == [
        "refused: a***@example.org", "registration /tickets/*** for a***@example.org",
        "a message built beforehand for a***@example.org"]


def test_a_logger_made_after_the_app_is_masked_by_the_root_handlers(
        caught: pytest.LogCaptureFixture) -> None:
    logging.getLogger("festival.tests.brand_new_module").warning("to %s", ADDRESS)
    logging.getLogger("some.library").warning("GET /tickets/%s", TOKEN)
    assert_nothing_secret(caught.text)
    assert "to a***@example.org" in caught.text and "GET /tickets/***" in caught.text


def test_uvicorn_access_log_is_masked_and_still_formats(caught: pytest.LogCaptureFixture
                                                        ) -> None:
    from uvicorn.logging import AccessFormatter

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s',
                                         use_colors=False))
    access = logging.getLogger("uvicorn.access")
    access.addHandler(handler)
    try:
        # As uvicorn's protocols log each request.
        for path in (f"/tickets/{TOKEN}", f"/feeds/tickets/{TOKEN}.ics",
                     f"/api/v1/registrations/{TOKEN}", f"/?email={ADDRESS}"):
            access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "GET", path, "1.1", 200)
    finally:
        access.removeHandler(handler)
    assert out.getvalue().splitlines() == [
        '127.0.0.1:50000 - "GET /tickets/*** HTTP/1.1" 200 OK',
        '127.0.0.1:50000 - "GET /feeds/tickets/***.ics HTTP/1.1" 200 OK',
        '127.0.0.1:50000 - "GET /api/v1/registrations/*** HTTP/1.1" 200 OK',
        '127.0.0.1:50000 - "GET /?email=a***@example.org HTTP/1.1" 200 OK']


# --- installation ------------------------------------------------------------------------------

def test_create_app_installs_the_filter_once(uninstalled: None, settings: Settings) -> None:
    from festival.web.app import create_app

    logging.getLogger("festival.tests.made_before_the_app")
    create_app(settings)
    create_app(settings)
    for name in ("festival", "festival.mail", "festival.auth", "uvicorn.access",
                 "uvicorn.error", "festival.tests.made_before_the_app"):
        logger = logging.getLogger(name)
        assert sum(isinstance(f, MaskSecrets) for f in logger.filters) == 1, name
    assert all(filtered(h) for h in logging.getLogger().handlers)


async def test_the_lifespan_installs_it_again_for_handlers_added_since(
        uninstalled: None, settings: Settings) -> None:
    from festival.web.app import create_app

    app = create_app(settings)
    late = logging.StreamHandler(io.StringIO())  # as uvicorn's logging config adds
    logging.getLogger("uvicorn.access").addHandler(late)
    try:
        async with app.router.lifespan_context(app):
            assert filtered(late)
    finally:
        logging.getLogger("uvicorn.access").removeHandler(late)


# --- a real server ------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_real_servers_output_holds_no_token_and_no_address(tmp_path: Path, workers: int
                                                             ) -> None:
    db_path = build_template(tmp_path / "festival.db", json.loads(SAMPLE.read_text("utf-8")))
    smtp = f"smtp://127.0.0.1:{free_port()}"  # nobody listens: every delivery fails
    with serve_festival(db_path, workers=workers, env={"FESTIVAL_SMTP_URL": smtp,
                                                       "FESTIVAL_RATE_LIMITS": "off"}) as server, \
            httpx.Client(base_url=server.url, trust_env=False) as c:
        made = c.post("/api/v1/screenings/1/registrations",
                      json={"name": "Ana Reyes", "email": ADDRESS, "seats": 1})
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        for path in (f"/tickets/{token}", f"/feeds/tickets/{token}.ics", f"/my/{token}",
                     f"/tickets/{token}/confirm", f"/api/v1/registrations/{token}",
                     f"/admin/screenings/1/door?ticket={token}", f"/?email={ADDRESS}"):
            c.get(path)
        assert c.delete(f"/api/v1/registrations/{token}").status_code == 200
        login = c.get("/admin/login")
        refused = c.post("/admin/login", data={"csrf_token": csrf_of(login.text),
                                               "email": ADDRESS, "password": "guess"})
        assert refused.status_code == 401
        deadline = time.monotonic() + 20
        while "not delivered" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.1)  # the sender tries about once a second
        output = server.output()

    assert "not delivered" in output, output
    assert token not in output and ADDRESS not in output, output
    assert "ana.reyes%40example.org" not in output
    for line in ('"GET /tickets/*** HTTP/1.1"', '"GET /feeds/tickets/***.ics HTTP/1.1"',
                 '"GET /my/*** HTTP/1.1"', '"GET /tickets/***/confirm HTTP/1.1"',
                 '"DELETE /api/v1/registrations/*** HTTP/1.1"',
                 '"GET /admin/screenings/1/door?ticket=*** HTTP/1.1"',
                 '"GET /?email=a***@example.org HTTP/1.1"',
                 "failed sign-in for ", "to a***@example.org not delivered"):
        assert line in output, f"{line!r} is not in:\n{output}"
