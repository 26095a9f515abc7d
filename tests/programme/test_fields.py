"""Each field is declared once: the programme file, the API and the organisers' forms
read the same specs."""

from __future__ import annotations

from starlette.datastructures import FormData

from festival.programme import catalogue, screenings
from festival.web.views.admin import SCREENING_FORM, form_input


def test_form_inputs_come_from_the_field_specs() -> None:
    venue = catalogue.KINDS["venue"].fields
    assert venue["step_free"].form_input == "flag"
    assert venue["capacity"].form_input == "number"
    assert venue["name"].form_input == "text"
    assert screenings.SCREENING["starts_at"].form_input == "wall_clock"
    assert screenings.SCREENING["guest_ids"].form_input == "ids"


def test_a_form_is_read_by_its_spec() -> None:
    form = FormData([("capacity", " 80 "), ("starts_at", ""), ("captioned_debate", "on"),
                     ("guest_ids", "3"), ("guest_ids", "5"), ("debate_title", " Talk "),
                     ("film_id", "x1")])
    data = form_input(form, SCREENING_FORM)
    assert data["capacity"] == 80
    assert "starts_at" not in data  # empty: absent, for the domain to require
    assert data["captioned_debate"] is True and data["sign_interpretation"] is False
    assert data["guest_ids"] == [3, 5]
    assert data["debate_title"] == " Talk "
    assert data["film_id"] == "x1"  # passed on for the domain to refuse
