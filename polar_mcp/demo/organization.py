"""A deterministic, realistic sample organization: individuals and teams, many countries and scripts.

The same generator feeds demo mode, the tests and the benchmarks, so all three see data shaped like
Polar's: team customers without email, customers without billing address, metadata of every kind.
Their billing lives beside: the catalogue in `catalogue.py`, subscriptions and orders in `ledger.py`
(`sample_billing`), and the customer state's view of them (`sample_holdings`) in `billing.py`.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["DEMO_CUSTOMERS", "DEMO_ORGANIZATION_ID", "demo_customers", "sample_customers"]

DEMO_ORGANIZATION_ID = "1dbfc517-0bbf-4301-9ba8-555ca42b9737"
DEMO_CUSTOMERS = 320
_EPOCH = datetime(2024, 1, 8, 9, 0, 0, tzinfo=UTC)
# The demo's signups are spread over the two years up to November 2026, so that questions such as
# "who signed up last week?" or "signups per month this year" have answers; the spread stretches the
# gaps between signups without drawing other random numbers, so names and IDs stay the same.
_DEMO_EPOCH = datetime(2024, 12, 6, 9, 0, 0, tzinfo=UTC)
_DEMO_SPREAD = 11

# (country, locale, first names, last names): names in their own script, accents kept.
_PEOPLE: list[tuple[str, str, list[str], list[str]]] = [
    (
        "US",
        "en",
        ["Ada", "Grace", "Alan", "Margaret", "Dennis", "Barbara"],
        ["Lovelace", "Hopper", "Turing", "Hamilton", "Ritchie", "Liskov"],
    ),
    ("GB", "en", ["Oliver", "Amelia", "Harry", "Isla"], ["Smith", "Taylor", "O'Brien", "Wright"]),
    ("DE", "de", ["Jürgen", "Lena", "Matthias", "Sophie", "Jörg"], ["Müller", "Schäfer", "Weiß", "Köhler"]),
    ("FR", "fr", ["Zoë", "Hélène", "François", "Céline"], ["Lefèvre", "Gauthier", "Dupré", "Bérard"]),
    ("ES", "es", ["José", "María", "Íñigo", "Begoña"], ["Núñez", "García", "Ibáñez", "Peña"]),
    ("PL", "pl", ["Łukasz", "Agnieszka", "Paweł"], ["Wójcik", "Kowalska", "Żak"]),
    ("SE", "sv", ["Åsa", "Björn", "Märta"], ["Lindqvist", "Söderberg", "Åkesson"]),
    ("JP", "ja", ["太郎", "花子", "健"], ["山田", "佐藤", "鈴木"]),
    ("CN", "zh", ["芳", "伟", "秀英"], ["王", "李", "张"]),
    ("RU", "ru", ["Анна", "Дмитрий", "Ольга"], ["Иванова", "Смирнов", "Кузнецова"]),
    ("GR", "el", ["Νίκος", "Ελένη"], ["Παπαδόπουλος", "Γεωργίου"]),
    ("EG", "ar", ["ليلى", "عمر"], ["حداد", "منصور"]),
    ("IN", "hi", ["प्रिया", "राहुल"], ["शर्मा", "वर्मा"]),
    ("KR", "ko", ["민준", "서연"], ["김", "박"]),
    ("BR", "pt", ["João", "Letícia", "Conceição"], ["Araújo", "Gonçalves", "Simões"]),
    ("CA", "fr", ["Chloé", "Étienne"], ["Bouchard", "Lévesque"]),
]
_EAST_ASIAN = {"ja", "zh", "ko"}
_TEAM_WORDS = [
    "Labs",
    "Studio",
    "GmbH",
    "Collective",
    "Systems",
    "Works",
    "Kollektiv",
    "株式会社",
    "Cooperativa",
]
_TEAM_STEMS = [
    "Nordlicht",
    "Blue Fern",
    "Kōan",
    "Ørsted Data",
    "Café Réseau",
    "Acme",
    "Pixelhaus",
    "Sakura",
    "Andes",
    "Tundra",
    "Lumen",
    "Quokka",
]
_PLANS = ["free", "pro", "team", "enterprise"]
_SOURCES = ["organic", "twitter", "newsletter", "partner", "conference"]
_TAX_FORMATS = {
    "DE": "eu_vat",
    "FR": "eu_vat",
    "ES": "eu_vat",
    "PL": "eu_vat",
    "SE": "eu_vat",
    "GB": "gb_vat",
    "US": "us_ein",
    "BR": "br_cnpj",
    "IN": "in_gst",
    "JP": "jp_cn",
    "CA": "ca_bn",
}
_CITIES = {
    "US": ("San Francisco", "US-CA"),
    "CA": ("Montréal", "CA-QC"),
    "DE": ("München", None),
    "FR": ("Lyon", None),
    "GB": ("London", None),
    "JP": ("東京", None),
}


def demo_customers() -> list[dict[str, Any]]:
    """The demo organization's customers: signups from December 2024 to November 2026."""
    return sample_customers(DEMO_CUSTOMERS, epoch=_DEMO_EPOCH, spread=_DEMO_SPREAD)


def sample_customers(
    count: int,
    *,
    seed: int = 42,
    organization_id: str = DEMO_ORGANIZATION_ID,
    team_share: float = 0.2,
    epoch: datetime = _EPOCH,
    spread: int = 1,
) -> list[dict[str, Any]]:
    """Return `count` customers as Polar's API would, oldest first, the same for the same seed.

    Signups follow `epoch` a few hours apart on average, times `spread`."""
    rng = random.Random(seed)
    customers = []
    moment = epoch
    for index in range(count):
        moment += spread * timedelta(
            minutes=rng.randint(5, 600), seconds=rng.randint(0, 59), microseconds=rng.randint(0, 999_999)
        )
        if rng.random() < team_share:
            customers.append(_team(rng, index, moment, organization_id))
        else:
            customers.append(_individual(rng, index, moment, organization_id))
    return customers


def _individual(rng: random.Random, index: int, created: datetime, organization_id: str) -> dict[str, Any]:
    country, locale, firsts, lasts = rng.choice(_PEOPLE)
    first, last = rng.choice(firsts), rng.choice(lasts)
    name = f"{last}{first}" if locale in _EAST_ASIAN else f"{first} {last}"
    if index == 0:  # a fixed, well-known first customer makes the demo easy to try
        country, locale, name, first, last = "GB", "en", "Ada Lovelace", "Ada", "Lovelace"
    handle = _ascii(f"{first}.{last}") or "user"
    email = f"{handle}{index}@{rng.choice(['example.com', 'example.org', 'example.net'])}"
    return _customer(rng, index, created, organization_id, "individual", name, email, country, locale)


def _team(rng: random.Random, index: int, created: datetime, organization_id: str) -> dict[str, Any]:
    country, locale, _, _ = rng.choice(_PEOPLE)
    name = f"{rng.choice(_TEAM_STEMS)} {rng.choice(_TEAM_WORDS)}"
    # Team customers may have no email at all: Polar's own generated tools fail on exactly these.
    email = None if rng.random() < 0.5 else f"billing+{index}@{_ascii(name.split()[0]) or 'team'}.example.com"
    return _customer(rng, index, created, organization_id, "team", name, email, country, locale)


def _customer(
    rng: random.Random,
    index: int,
    created: datetime,
    organization_id: str,
    kind: str,
    name: str,
    email: str | None,
    country: str,
    locale: str,
) -> dict[str, Any]:
    metadata: dict[str, str | int | bool] = {}
    if rng.random() < 0.7:
        metadata["plan"] = rng.choice(_PLANS)
    if rng.random() < 0.4:
        metadata["source"] = rng.choice(_SOURCES)
    if rng.random() < 0.3:
        metadata["seats"] = rng.randint(1, 50)
    if rng.random() < 0.2:
        metadata["beta"] = rng.random() < 0.5
    address = None
    if rng.random() < 0.8:
        city, state = _CITIES.get(country, (None, None))
        address = {
            "line1": f"{rng.randint(1, 200)} Example Street" if rng.random() < 0.7 else None,
            "line2": None,
            "postal_code": f"{rng.randint(10000, 99999)}" if rng.random() < 0.7 else None,
            "city": city,
            "state": state,
            "country": country,
        }
    tax_format = _TAX_FORMATS.get(country)
    tax_id = (
        [f"{country}{rng.randint(10**8, 10**9 - 1)}", tax_format]
        if tax_format and rng.random() < 0.3
        else None
    )
    modified = created + timedelta(days=rng.randint(0, 90)) if rng.random() < 0.5 else None
    first_event = created + timedelta(hours=rng.randint(1, 500)) if rng.random() < 0.6 else None
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "created_at": _iso(created),
        "modified_at": _iso(modified) if modified else None,
        "metadata": metadata,
        "external_id": f"usr_{index + 1}" if rng.random() < 0.75 or index == 0 else None,
        "email": email,
        "email_verified": rng.random() < 0.8,
        "type": kind,
        "name": name,
        "billing_name": name if rng.random() < 0.5 else None,
        "billing_address": address,
        "tax_id": tax_id,
        "locale": locale if rng.random() < 0.6 else None,
        "organization_id": organization_id,
        "default_payment_method_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if rng.random() < 0.5
        else None,
        "deleted_at": None,
        "first_user_event_at": _iso(first_event) if first_event else None,
        "avatar_url": f"https://www.gravatar.com/avatar/{rng.getrandbits(128):032x}?d=404" if email else None,
    }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == ".").strip(".")
