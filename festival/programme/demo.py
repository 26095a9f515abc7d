"""The demo edition: a realistic, deterministic programme file for trying the app and
for benchmarks (`festival demo --screenings N --seed S`).

Everything here is invented: film titles, synopses, directors and guests. The cities
are places with IOM offices, picked for their awkward time zones: half- and
three-quarter-hour offsets (Kolkata, Kathmandu, Adelaide, St. John's, Tehran, Yangon)
and summer time in December (Sydney, Adelaide, Auckland, Santiago).

Why venues never clash: each venue has four fixed daily slots three hours apart, and a
screening (film, debate) lasts at most 150 minutes, so 30 minutes of changeover always
remain. A slot's time depends only on its venue and day, and its key names them, so
importing another size or seed over an earlier demo updates the same slots instead of
double-booking them. More screenings need more halls: each city gets as many as N
requires.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta
from typing import Any

from festival.core.store import Database, execute, fetch_all
from festival.core.text import slugify

DAYS = 14  # 5 to 18 December
SLOTS = (12 * 60, 15 * 60, 18 * 60, 21 * 60)  # minutes after midnight, local time
MAX_MINUTES = 150  # film plus debate; SLOTS are 180 apart: 30 minutes of changeover
DEBATE_MINUTES = 40
INTRO_MINUTES = 10
GUESTS = 90


def edition_year(today: date | None = None) -> int:
    """This year's festival until it has ended (18 December), then next year's."""
    today = today or date.today()
    return today.year if today <= date(today.year, 12, 18) else today.year + 1


async def earlier_screenings(db: Database, data: dict[str, Any]) -> dict[str, int]:
    """The screenings of `data`'s edition already in the database that `data` does not
    hold (an earlier, larger demo): how many, and how many of them have registrations."""
    rows = _not_in(data, await db.fetch_all(_EARLIER, (data["edition"]["key"],)))
    return {"screenings": len(rows), "registered": sum(1 for r in rows if r["registered"])}


async def remove_earlier_screenings(db: Database, data: dict[str, Any]) -> int:
    """Removes the screenings of `data`'s edition that `data` does not hold, in one
    transaction, when none of them has registrations (else removes nothing: answers -1);
    answers how many were removed."""
    async with db.transaction() as conn:
        rows = _not_in(data, await fetch_all(conn, _EARLIER, (data["edition"]["key"],)))
        if any(r["registered"] for r in rows):
            return -1
        for row in rows:  # its guest list goes with it (ON DELETE CASCADE)
            await execute(conn, "DELETE FROM screenings WHERE id = ?", (row["id"],))
    return len(rows)


# Every screening of the edition; `_not_in` leaves out those `data` holds (a NOT IN of
# any length, without SQLite's json_each).
_EARLIER = """SELECT s.id, s.key,
                     EXISTS (SELECT 1 FROM registrations r WHERE r.screening_id = s.id)
                     AS registered
              FROM screenings s JOIN editions e ON e.id = s.edition_id
              WHERE e.key = ?"""


def _not_in(data: dict[str, Any], rows: list[Any]) -> list[Any]:
    keys = {s["key"] for s in data["screenings"]}
    return [r for r in rows if r["key"] not in keys]


def generate(screenings: int = 300, seed: int = 1, today: date | None = None) -> dict[str, Any]:
    """A programme in the file format with `screenings` screenings; the same arguments
    always give the same programme."""
    if screenings < 0:
        raise ValueError("the number of screenings cannot be negative")
    year = edition_year(today)
    rng = random.Random(seed)
    halls = max(1, math.ceil(screenings / (len(CITIES) * DAYS * len(SLOTS))))
    venues = [_venue(city, hall, seed) for city in CITIES for hall in range(halls)]
    films = [_film(i, f, rng) for i, f in enumerate(FILMS)]
    guests = [_guest(i, rng) for i in range(GUESTS)]
    slots = _pick_slots(rng, len(venues), screenings)
    first_day = date(year, 12, 5)
    return {
        "edition": {"key": str(year), "name": f"Global Migration Film Festival {year}",
                    "starts_on": first_day.isoformat(),
                    "ends_on": (first_day + timedelta(days=DAYS - 1)).isoformat(),
                    "notes": f"Demo edition generated with seed {seed}: invented programme."},
        "venues": venues,
        "films": films,
        "guests": guests,
        "screenings": [_screening(rng, venues[v], first_day + timedelta(days=d), slot, films,
                                  guests)
                       for v, d, slot in slots],
    }


def _pick_slots(rng: random.Random, venues: int, wanted: int) -> list[tuple[int, int, int]]:
    """`wanted` distinct (venue, day, slot) triples, in programme order."""
    per_venue = DAYS * len(SLOTS)
    chosen = sorted(rng.sample(range(venues * per_venue), wanted))
    return [(n // per_venue, n % per_venue // len(SLOTS), n % len(SLOTS)) for n in chosen]


def _venue(city: dict[str, Any], hall: int, seed: int) -> dict[str, Any]:
    # Seeded by the venue's own key, so a venue is the same whatever N is.
    base = city["venues"][hall % len(city["venues"])]
    number = hall // len(city["venues"]) + 1
    name = base if number == 1 else f"{base}, Hall {number}"
    key = f"{slugify(city['city'], limit=100)}-{slugify(name, limit=100)}"
    rng = random.Random(f"{seed}:{key}")
    return {"key": key, "name": name, "city": city["city"], "country": city["country"],
            "timezone": city["timezone"], "address": city["address"],
            "capacity": rng.choice((40, 60, 80, 120, 150, 200, 250)),
            "step_free": rng.random() < 0.7}


def _film(i: int, film: tuple[str, int, str, str], rng: random.Random) -> dict[str, Any]:
    title, runtime, languages, synopsis = film
    return {"key": slugify(title, limit=100), "title": title, "runtime_minutes": runtime,
            "synopsis": synopsis, "director": _person(rng), "year": 2014 + i % 11,
            "languages": languages}


def _person(rng: random.Random) -> str:
    return f"{rng.choice(GIVEN_NAMES)} {rng.choice(SURNAMES)}"


def _guest(i: int, rng: random.Random) -> dict[str, Any]:
    role, organisation, listed = GUEST_ROLES[i % len(GUEST_ROLES)]
    guest: dict[str, Any] = {"key": f"guest-{i + 1:03d}", "name": _person(rng), "role": role,
                             "organisation": organisation}
    if not listed:
        # Migrants telling their own story are shown only as "a guest speaker".
        guest["listed"] = False
        guest["notes"] = "Unlisted: the name is for organisers only."
    return guest


def _screening(rng: random.Random, venue: dict[str, Any], day: date, slot: int,
               films: list[dict[str, Any]], guests: list[dict[str, Any]]) -> dict[str, Any]:
    film = rng.choice(films)
    start = datetime.combine(day, datetime.min.time()) + timedelta(
        minutes=SLOTS[slot] + _offset(venue["key"]))
    has_debate = rng.random() < 0.45
    minutes = film["runtime_minutes"] + (DEBATE_MINUTES if has_debate else INTRO_MINUTES)
    minutes = min(MAX_MINUTES, -(-minutes // 5) * 5)  # round up to five minutes
    local = LANGUAGE_OF[venue["city"]]
    screening: dict[str, Any] = {
        "key": f"{venue['key']}-{day.isoformat()}-{start:%H%M}",
        "film": film["key"], "venue": venue["key"],
        "starts_at": f"{start:%Y-%m-%dT%H:%M}",
        "ends_at": f"{start + timedelta(minutes=minutes):%Y-%m-%dT%H:%M}",
        "capacity": venue["capacity"] if rng.random() < 0.8 else venue["capacity"] // 2,
        "language": local,
        "subtitles": ",".join(dict.fromkeys(
            c for c in (local, "en") if c not in film["languages"].split(","))),
    }
    roll = rng.random()
    if roll < 0.02:
        screening["status"] = "cancelled"
    elif roll < 0.03:
        screening["status"] = "draft"
    if rng.random() < 0.1:
        screening["sign_interpretation"] = True
    if has_debate:
        title, description = rng.choice(DEBATES)
        screening["debate"] = {"title": title, "description": description,
                               "guests": [g["key"] for g in rng.sample(guests, rng.randint(1, 3))]}
        screening["captioned_debate"] = rng.random() < 0.2
    return screening


def _offset(venue_key: str) -> int:
    """0, 15, 30 or 45 minutes, fixed per venue: halls of one city start at different
    times, and a slot's time never depends on the seed or N."""
    return sum(venue_key.encode()) % 4 * 15

# --- invented programme material ------------------------------------------------------------

def _city(city: str, country: str, timezone: str, language: str, address: str,
          *venues: str) -> dict[str, Any]:
    # Pages write the city after the address: "Route des Morillons, Geneva" would say
    # Geneva twice. A local name ("Roma", "Den Haag") stays, as on a letter.
    return {"city": city, "country": country, "timezone": timezone, "language": language,
            "address": address.removesuffix(f", {city}"), "venues": venues}


CITIES = [
    _city("Geneva", "CH", "Europe/Zurich", "fr", "Route des Morillons, Geneva",
          "IOM Headquarters Auditorium", "Cinéma du Lac", "Maison des Migrations"),
    _city("The Hague", "NL", "Europe/Amsterdam", "nl", "Koninginnegracht, Den Haag",
          "Filmhuis Zeezicht", "IOM Netherlands Screening Room"),
    _city("Berlin", "DE", "Europe/Berlin", "de", "Oranienstraße, Berlin",
          "Kino Ankunft", "Haus der Wege"),
    _city("Rome", "IT", "Europe/Rome", "it", "Via Nazionale, Roma",
          "Cinema Approdo", "Sala Mediterraneo"),
    _city("Dakar", "SN", "Africa/Dakar", "fr", "Corniche Ouest, Dakar",
          "Ciné Teranga", "Institut des Routes"),
    _city("Niamey", "NE", "Africa/Niamey", "fr", "Avenue du Fleuve, Niamey",
          "Ciné Sahel", "IOM Niger Community Hall"),
    _city("Nairobi", "KE", "Africa/Nairobi", "en", "Gigiri, Nairobi",
          "Safari Lane Cinema", "IOM Kenya Learning Centre"),
    _city("Cairo", "EG", "Africa/Cairo", "ar", "Zamalek, Cairo",
          "Nile Screen", "Garden City Arts House"),
    _city("Tehran", "IR", "Asia/Tehran", "fa", "Vali Asr Avenue, Tehran",
          "Cinema Shahr", "Bagh Film Hall"),
    _city("New Delhi", "IN", "Asia/Kolkata", "hi", "Lodhi Road, New Delhi",
          "Lodhi Film Society", "India Habitat Screening Room"),
    _city("Kathmandu", "NP", "Asia/Kathmandu", "ne", "Lazimpat, Kathmandu",
          "Himal Film Hall", "IOM Nepal Resource Centre"),
    _city("Dhaka", "BD", "Asia/Dhaka", "bn", "Gulshan Avenue, Dhaka",
          "Padma Cinema Club", "Shilpakala Studio"),
    _city("Yangon", "MM", "Asia/Yangon", "my", "Pyay Road, Yangon",
          "Inya Film House", "Golden Valley Hall"),
    _city("Bangkok", "TH", "Asia/Bangkok", "th", "Sukhumvit Road, Bangkok",
          "Lumpini Screen", "Chao Phraya Film Room"),
    _city("Manila", "PH", "Asia/Manila", "en", "Roxas Boulevard, Manila",
          "Bayside Cinematheque", "IOM Philippines Assembly Hall"),
    _city("Sydney", "AU", "Australia/Sydney", "en", "George Street, Sydney",
          "Harbourside Picture House", "Darling Film Studio"),
    _city("Adelaide", "AU", "Australia/Adelaide", "en", "North Terrace, Adelaide",
          "Torrens Cinema", "Parklands Screening Room"),
    _city("Auckland", "NZ", "Pacific/Auckland", "en", "Queen Street, Auckland",
          "Waitematā Picture Palace", "Ponsonby Film Loft"),
    _city("Santiago", "CL", "America/Santiago", "es", "Avenida Providencia, Santiago",
          "Cine Andes", "Sala Mapocho"),
    _city("Buenos Aires", "AR", "America/Argentina/Buenos_Aires", "es",
          "Avenida de Mayo, Buenos Aires", "Cine Puerto", "Sala Rioplatense"),
    _city("Bogotá", "CO", "America/Bogota", "es", "Carrera Séptima, Bogotá",
          "Cinemateca del Cerro", "Casa Frontera"),
    _city("Mexico City", "MX", "America/Mexico_City", "es", "Avenida Reforma, Ciudad de México",
          "Cine Tránsito", "Foro Norte"),
    _city("Washington", "US", "America/New_York", "en", "17th Street NW, Washington, DC",
          "Potomac Film Room", "Dupont Screening Hall"),
    _city("St. John's", "CA", "America/St_Johns", "en", "Water Street, St. John's",
          "Harbourfront Cinema", "Signal Hill Film Room"),
    _city("Amman", "JO", "Asia/Amman", "ar", "Jabal Amman, Amman",
          "Rainbow Street Cinema", "Citadel Film House"),
]

# (title, runtime in minutes (at most MAX_MINUTES - DEBATE_MINUTES), languages, synopsis)
FILMS = [
    ("Salt Road", 24, "ha,fr", "Three young men cross the Ténéré from Agadez, counting the "
     "days by the water they have left."),
    ("Letters to Lagos", 52, "en,yo", "A nurse in Rome records voice messages for the "
     "daughter she has not seen in six years."),
    ("The Last Bus to Tapachula", 88, "es", "Passengers on a night bus near the Guatemalan "
     "border share food, rumours and a single phone charger."),
    ("Monsoon Wages", 71, "ne,en", "Nepali workers in Doha plan a wedding back home over a "
     "season of double shifts."),
    ("What the Sea Keeps", 96, "ar,it", "A Lampedusa fisherman and a Syrian engineer rebuild "
     "a boat that neither of them wants to sail."),
    ("Paper Homes", 18, "en", "An animated short about a girl who folds a new house for "
     "every city her family reaches."),
    ("Between Two Harvests", 104, "es,en", "Seasonal farm workers travel between Michoacán "
     "and Ontario, living two lives a year apart."),
    ("The Interpreter's Daughter", 79, "fa,de", "In Berlin, a teenager translates her "
     "father's asylum hearing and learns who he was."),
    ("Kafala", 63, "ar,am,en", "Domestic workers in Beirut trade advice on a rooftop every "
     "Sunday, their only day off."),
    ("Return Ticket", 45, "fr,wo", "Back in Dakar after failing to reach Europe, Moussa "
     "opens a barber shop with money from a reintegration grant."),
    ("Island of Waiting", 92, "en,ar,ku", "A year in a reception centre on a Greek island, "
     "seen through the eyes of its cook."),
    ("Remittance", 30, "tl,en", "One transfer of 300 dollars, followed from a Dubai kitchen "
     "to a school roof in Leyte."),
    ("The Caravan", 110, "es", "A thousand people walk north through Mexico; a doctor "
     "walks with them."),
    ("Snow on the Rohingya Shore", 57, "rhg,en", "Children in Cox's Bazar stage a play "
     "about a winter they have never seen."),
    ("Diaspora Kitchen", 26, "en,so", "Somali grandmothers in Minneapolis teach their "
     "recipes to a cooking school."),
    ("Far From Kabul", 84, "fa,ps,en", "An Afghan film crew, evacuated mid-shoot, finishes "
     "their film in a hotel in Tirana."),
    ("The Weight of a Passport", 66, "en,fr", "Six travellers, six passports, one airport "
     "transfer desk."),
    ("Corridor", 38, "ar,tr", "A Syrian family's apartment in Gaziantep, filmed over ten "
     "years from the same doorway."),
    ("Brick by Brick", 73, "bn,en", "Bangladeshi construction workers in Singapore build "
     "a tower and a cricket team."),
    ("Sahel Radio", 49, "fr,ha", "A community radio station in Agadez broadcasts the truth "
     "about the desert route."),
    ("New Neighbours", 21, "nl,ar", "A Dutch village prepares a welcome dinner for the "
     "twelve families arriving on Friday."),
    ("Climate Exiles", 95, "en,mh", "Marshall Islanders in Arkansas keep their island's "
     "songs alive far from the rising sea."),
    ("Border Lullaby", 14, "es,en", "A mother sings to her son on both sides of a fence in "
     "Tijuana."),
    ("The Long Way to School", 61, "sw,en", "Refugee teenagers in Kakuma study for exams "
     "that could take them to university in Canada."),
    ("Venezuela, Km 0", 87, "es,pt", "At the border crossing in Cúcuta, volunteers hand out "
     "coffee, maps and courage."),
    ("A Seat at the Table", 35, "en", "Migrant women in Dublin run for their local council."),
    ("Caught in the Net", 76, "th,my,en", "Fishermen trafficked onto Thai trawlers tell "
     "how they escaped."),
    ("Homecoming in Tigray", 58, "ti,en", "An Ethiopian doctor returns from Washington to "
     "the hospital where she trained."),
    ("Wind Over Mongolia", 69, "mn,en", "Herders who lost their animals to a dzud winter "
     "start again on the edge of Ulaanbaatar."),
    ("The Translator's Song", 42, "en,fa", "A choir of interpreters in Sydney sings in "
     "the eleven languages they work in."),
]

DEBATES = [
    ("Changing the perception of migrants",
     "How films, newsrooms and neighbours can tell migration stories fairly."),
    ("Safe and regular pathways", "What would make the dangerous routes unnecessary?"),
    ("Coming home", "Return and reintegration, from the people who lived it."),
    ("Migration and climate", "When the land or the sea makes staying impossible."),
    ("Remittances and families", "The money that crosses borders, and what it builds."),
    ("Labour migration: fair recruitment", "Fees, contracts and the right to change jobs."),
    ("Young people on the move", "Education, safety and hope for children who migrate."),
    ("Diaspora and development", "How diaspora professionals help their countries of origin."),
    ("Welcoming cities", "Mayors, schools and clubs that make newcomers neighbours."),
    ("Missing migrants", "Counting, naming and remembering those lost on the way."),
]

# (role, organisation, listed publicly)
GUEST_ROLES = [
    ("Film director", "", True),
    ("Chief of Mission", "IOM", True),
    ("Migration researcher", "Institute for Mobility Studies", True),
    ("Journalist", "", True),
    ("Community organiser", "Diaspora association", True),
    ("Migrant, speaking about her journey", "", False),
    ("Youth ambassador", "IOM", True),
    ("Producer", "", True),
    ("Returnee, speaking about the journey home", "", False),
    ("Integration policy adviser", "City council", True),
]

GIVEN_NAMES = [
    "Amina", "Tomás", "Leila", "Kwame", "Priya", "Mateo", "Fatou", "Arjun", "Nour", "Sofía",
    "Yusuf", "Mei", "Ibrahim", "Ana", "Tenzin", "Chiara", "Oluwaseun", "Dilnoza", "Rafael",
    "Hana", "Samir", "Grace", "Bilal", "Lucía", "Ravi", "Aisha", "Jonas", "Mariam", "Thabo",
    "Nadia", "Kofi", "Farida", "Diego", "Elif", "Sunita", "Omar", "Rosa", "Aziz", "Lena",
]
SURNAMES = [
    "Diallo", "Okafor", "Haidari", "Moreno", "Sharma", "Nguyen", "Mensah", "Castillo",
    "Rahman", "Kowalski", "Abebe", "Santos", "Hosseini", "Tamang", "Ndlovu", "Lindqvist",
    "Farah", "Quispe", "Bakr", "Osei", "Petrović", "Karimi", "Ochieng", "Silva", "Yilmaz",
    "Baptiste", "Mwangi", "Reyes", "Sarpong", "Alvarez", "Gurung", "Haddad", "Costa",
]

LANGUAGE_OF = {c["city"]: c["language"] for c in CITIES}
