"""Pools of names, streets and places that the demo's people are drawn from.

Each pool is listed most common first; :func:`zipf_weights` turns that order into draw
probabilities, so a few names are frequent and many are rare, as in real populations
(and, as in the Febrl data, several people share a common name). First names carry the
usual nickname after a colon (``Robert:Bob``), which the CRM sometimes uses instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_FEMALE = """
Mary Patricia:Pat Jennifer:Jen Linda Elizabeth:Liz Barbara:Barb Susan:Sue Jessica:Jess Sarah
Karen Lisa Nancy Betty Margaret:Peggy Sandra:Sandy Ashley Kimberly:Kim Emily Donna
Michelle:Shelly Carol Amanda:Mandy Dorothy:Dot Melissa:Missy Deborah:Debbie Stephanie:Steph
Rebecca:Becky Sharon Laura Cynthia:Cindy Kathleen:Kathy Amy Angela:Angie Shirley Anna Brenda
Pamela:Pam Emma Nicole:Nikki Helen Samantha:Sam Katherine:Kate Christine:Chris Debra:Deb
Rachel Carolyn Janet Catherine:Cathy Maria Heather Diane Ruth Julie Olivia:Liv Joyce
Virginia:Ginny Victoria:Vicky Kelly Lauren Christina:Tina Joan Evelyn:Evie Judith:Judy
Megan:Meg Andrea Cheryl Hannah Jacqueline:Jackie Martha:Marty Gloria Teresa:Terry Ann Sara
Madison:Maddie Frances:Fran Kathryn:Katie Janice Jean Abigail:Abby Alice Julia Sophia:Sophie
Grace Denise Amber Doris Marilyn Danielle:Dani Beverly:Bev Isabella:Bella Theresa:Tess Diana
Natalie:Nat Brittany Charlotte:Lottie Marie Kayla Alexis:Lexi
"""

_MALE = """
James:Jim Robert:Bob John:Jack Michael:Mike David:Dave William:Bill Richard:Rick Joseph:Joe
Thomas:Tom Christopher:Chris Charles:Charlie Daniel:Dan Matthew:Matt Anthony:Tony Mark
Donald:Don Steven:Steve Paul Andrew:Andy Joshua:Josh Kenneth:Ken Kevin Brian George
Timothy:Tim Ronald:Ron Edward:Ed Jason Jeffrey:Jeff Ryan Jacob:Jake Gary Nicholas:Nick Eric
Jonathan:Jon Stephen:Steve Larry Justin Scott Brandon Benjamin:Ben Samuel:Sam Gregory:Greg
Alexander:Alex Frank Patrick:Pat Raymond:Ray Jack Dennis Jerry Tyler Aaron Jose Adam
Nathan:Nate Henry:Hank Douglas:Doug Zachary:Zach Peter:Pete Kyle Ethan Walter:Walt Noah
Jeremy Christian Keith Roger Terry Gerald:Jerry Harold:Harry Sean Austin Carl Arthur:Art
Lawrence:Larry Dylan Jesse Jordan Bryan Billy Bruce Gabriel:Gabe Logan Albert:Al Willie Alan
Juan Wayne Elijah:Eli Randy Roy Vincent:Vince Ralph Eugene:Gene Russell:Russ Bobby Mason
Philip:Phil Louis:Lou
"""

_LAST = """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo
Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell
Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson
Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera
Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez
McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns
Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt
Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer
Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant
Dunn Kelley Spencer Hawkins Arnold Pierce Hansen Peters Santos Hart Bradley Knight Elliott
Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry
Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval
O'Brien O'Connor
"""

_STREETS = """
Main Oak Pine Maple Cedar Elm Washington Lake Hill Park Walnut Sunset Lincoln Jackson Church
Highland Willow Ridge River Spring Chestnut Meadow Forest Jefferson Madison Franklin Adams
Center Mill Prospect Cherry Birch Valley Lakeview Hillcrest Dogwood Magnolia Sycamore Spruce
Aspen Poplar Laurel Woodland Broadway Union Market Front Water Bridge School Grove Summit
Orchard Heritage Colonial Fairway Greenwood Locust Hickory Holly
"""

STREET_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("St", "Street"),
    ("Ave", "Avenue"),
    ("Rd", "Road"),
    ("Dr", "Drive"),
    ("Ln", "Lane"),
    ("Blvd", "Boulevard"),
    ("Ct", "Court"),
    ("Pl", "Place"),
    ("Way", "Way"),
)
"""Street suffixes as (abbreviation, spelled out); the truth uses the abbreviation."""

EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.38),
    ("yahoo.com", 0.14),
    ("outlook.com", 0.09),
    ("hotmail.com", 0.09),
    ("icloud.com", 0.10),
    ("aol.com", 0.04),
    ("comcast.net", 0.04),
    ("protonmail.com", 0.02),
    ("att.net", 0.03),
    ("me.com", 0.03),
    ("live.com", 0.04),
)


@dataclass(frozen=True)
class City:
    name: str
    region: str
    country: str
    postcode: str
    """US: the first three digits of the ZIP code; Canada: the forward sortation area."""
    area_codes: tuple[int, ...]
    weight: float
    stores: int


CITIES: tuple[City, ...] = (
    City("New York", "NY", "US", "100", (212, 718, 917), 8.4, 4),
    City("Los Angeles", "CA", "US", "900", (213, 310, 323), 3.9, 3),
    City("Chicago", "IL", "US", "606", (312, 773), 2.7, 3),
    City("Houston", "TX", "US", "770", (713, 281, 832), 2.3, 2),
    City("Phoenix", "AZ", "US", "850", (602, 480), 1.6, 2),
    City("Philadelphia", "PA", "US", "191", (215, 267), 1.6, 2),
    City("San Antonio", "TX", "US", "782", (210,), 1.4, 1),
    City("San Diego", "CA", "US", "921", (619, 858), 1.4, 1),
    City("Dallas", "TX", "US", "752", (214, 469, 972), 1.3, 2),
    City("Austin", "TX", "US", "787", (512, 737), 1.0, 1),
    City("Jacksonville", "FL", "US", "322", (904,), 0.9, 1),
    City("Columbus", "OH", "US", "432", (614,), 0.9, 1),
    City("Charlotte", "NC", "US", "282", (704, 980), 0.9, 1),
    City("Indianapolis", "IN", "US", "462", (317,), 0.9, 1),
    City("Seattle", "WA", "US", "981", (206,), 0.7, 1),
    City("Denver", "CO", "US", "802", (303, 720), 0.7, 1),
    City("Boston", "MA", "US", "021", (617, 857), 0.7, 1),
    City("Nashville", "TN", "US", "372", (615,), 0.7, 1),
    City("Portland", "OR", "US", "972", (503, 971), 0.6, 1),
    City("Atlanta", "GA", "US", "303", (404, 470, 678), 0.5, 1),
    City("Miami", "FL", "US", "331", (305, 786), 0.5, 1),
    City("Minneapolis", "MN", "US", "554", (612,), 0.4, 1),
    City("Raleigh", "NC", "US", "276", (919,), 0.5, 1),
    City("Kansas City", "MO", "US", "641", (816,), 0.5, 1),
    City("Salt Lake City", "UT", "US", "841", (801,), 0.2, 1),
    City("Pittsburgh", "PA", "US", "152", (412,), 0.3, 1),
    City("Cincinnati", "OH", "US", "452", (513,), 0.3, 1),
    City("Milwaukee", "WI", "US", "532", (414,), 0.6, 1),
    City("Sacramento", "CA", "US", "958", (916,), 0.5, 1),
    City("Orlando", "FL", "US", "328", (407, 321), 0.3, 1),
    City("Toronto", "ON", "CA", "M5V", (416, 647), 0.25, 1),
    City("Vancouver", "BC", "CA", "V6B", (604, 778), 0.1, 0),
    City("Montreal", "QC", "CA", "H2X", (514, 438), 0.1, 0),
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _first_names(text: str) -> tuple[tuple[str, str], ...]:
    """``Name:Nick`` words as (name, nickname); no nickname gives an empty string."""
    pairs = []
    for word in text.split():
        name, _, nick = word.partition(":")
        pairs.append((name, nick))
    return tuple(pairs)


FEMALE_NAMES = _first_names(_FEMALE)
MALE_NAMES = _first_names(_MALE)
FIRST_NAMES: tuple[str, ...] = tuple(name for name, _ in FEMALE_NAMES + MALE_NAMES)
"""Every first name, female names first; people hold an index into this pool."""
NICKNAMES: tuple[str, ...] = tuple(nick for _, nick in FEMALE_NAMES + MALE_NAMES)
"""The nickname of each entry of :data:`FIRST_NAMES` (empty when there is none)."""
LAST_NAMES = _words(_LAST)
STREETS = _words(_STREETS)


def zipf_weights(count: int, exponent: float = 0.8) -> np.ndarray:
    """Draw probabilities for a pool listed most common first."""
    weights = 1.0 / np.arange(1, count + 1, dtype=np.float64) ** exponent
    result: np.ndarray = weights / weights.sum()
    return result
