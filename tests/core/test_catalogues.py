"""Every shipped language is complete: each catalogue under festival/locale (English
aside, whose texts are the message ids themselves) translates every message of the
English catalogue, every plural form, and keeps its placeholders.

A missing translation shows English in the middle of a French page; a placeholder
that differs from the English breaks the text (`%(title)s` left out, a date shown
twice) or the page itself (an unknown `%(name)s` is a KeyError when it is filled in).
Add a language with `pybabel init` (README, "Languages"): this test names what is
left to translate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parents[2] / "festival" / "locale"
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?([diouxXeEfFgGcrs%])")


def read(path: Path) -> Catalog:
    with path.open("rb") as po:
        return read_po(po)


def placeholders(text: str) -> list[str]:
    """The %-placeholders of a text, sorted: '%(name)s', '%d' ('%%' is no placeholder)."""
    return sorted(f"%({name}){kind}" if name else f"%{kind}"
                  for name, kind in PLACEHOLDER.findall(text) if kind != "%")


def shipped() -> list[str]:
    return sorted(p.parent.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po")
                  if p.parent.parent.name != "en")


def problems(english: Catalog, catalogue: Catalog) -> list[str]:
    """What the catalogue lacks or gets wrong, one line each."""
    found = []
    forms = catalogue.num_plurals
    for message in english:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        translation: Message | None = catalogue.get(key)
        name = repr(key)
        if translation is None or not translation.string or (
                isinstance(translation.string, tuple) and not all(translation.string)):
            found.append(f"missing: {name}")
            continue
        if translation.fuzzy:
            found.append(f"fuzzy (check it, then remove the flag): {name}")
        if isinstance(message.id, str):
            if not isinstance(translation.string, str):
                found.append(f"plural forms for a singular message: {name}")
            elif placeholders(translation.string) != placeholders(message.id):
                found.append(f"placeholders {placeholders(translation.string)} instead of "
                             f"{placeholders(message.id)}: {name}")
            continue
        strings = translation.string if isinstance(translation.string, tuple) else (
            translation.string,)
        if len(strings) != forms:
            found.append(f"{len(strings)} plural forms instead of {forms}: {name}")
            continue
        wanted = placeholders(message.id[1])
        for index, text in enumerate(strings):
            # Forms for one thing (Arabic's "one", "two") may leave the number out; none
            # may bring another placeholder, and the general (last) form has them all.
            have = placeholders(text)
            if index == len(strings) - 1 and have != wanted or not set(have) <= set(wanted):
                found.append(f"placeholders {have} in plural form {index} instead of "
                             f"{wanted}: {name}")
    return found


@pytest.mark.parametrize("code", shipped())
def test_shipped_catalogue_translates_every_message_with_its_placeholders(code: str) -> None:
    english = read(LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po")
    catalogue = read(LOCALE_DIR / code / "LC_MESSAGES" / "messages.po")
    assert catalogue.plural_forms, f"{code}: the catalogue names no Plural-Forms"
    found = problems(english, catalogue)
    assert not found, (f"festival/locale/{code}: {len(found)} problems, e.g.\n  "
                       + "\n  ".join(found[:25]))


def test_the_check_finds_missing_texts_and_changed_placeholders() -> None:
    """The check itself, on a small catalogue: what it must catch and what it allows."""
    english = Catalog(locale="en")
    english.add("Programme")
    english.add("Hello %(name)s,")
    english.add("Debate: %(title)s")
    english.add("at 100%%")
    english.add(("%(num)d seat left", "%(num)d seats left"))
    dutch = Catalog(locale="nl")  # two plural forms
    dutch.add("Programme", "Programma")
    dutch.add("Hello %(name)s,", "Hallo,")  # the name left out
    dutch.add("at 100%%", "op 100%%")
    dutch.add(("%(num)d seat left", "%(num)d seats left"),
              ("Nog één plaats", "Nog %(num)d plaatsen"))  # "one" may leave the number out
    assert problems(english, dutch) == [
        "placeholders [] instead of ['%(name)s']: 'Hello %(name)s,'",
        "missing: 'Debate: %(title)s'"]
    dutch.delete("%(num)d seat left")
    dutch.add(("%(num)d seat left", "%(num)d seats left"),
              ("Nog %(num)d plaats", "Nog %(aantal)d plaatsen"))
    assert "placeholders ['%(aantal)d'] in plural form 1 instead of ['%(num)d']: " \
           "'%(num)d seat left'" in problems(english, dutch)
