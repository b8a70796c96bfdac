"""Identifier normalisation as portable SQL expressions.

- e-mail: trimmed and lower-cased; kept only when it looks like ``local@domain.tld``.
- phone: E.164. Punctuation is dropped; ``+CC…`` and ``00CC…`` are international; a
  national number (with or without its trunk ``0``) gets the default region's country
  code, which the ``phonenumbers`` library supplies. Kept only with 8 to 15 digits and
  not all one digit.
- any other identifier: trimmed; empty is NULL.

A value that fails its check becomes NULL in the normalised column (so it never links
people) while the raw value stays in ``raw_<source>``.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from personae.errors import ConfigError

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$"
NATIONAL_DIGITS: dict[int, tuple[int, ...]] = {1: (10,), 44: (10,), 49: (10, 11), 33: (9,)}
"""Country code -> lengths of a national number without its trunk prefix (defaults: 7-12)."""


@lru_cache(maxsize=64)
def country_code(region: str) -> int:
    """The calling code of an ISO region (``US`` -> 1), or a ConfigError naming the region."""
    code = phonenumbers.country_code_for_region(region.upper())
    if not code:
        raise ConfigError(f"phone_region {region!r} is not an ISO 3166 region code, e.g. 'US', 'GB'")
    return int(code)


def text_sql(expression: str) -> str:
    return f"nullif(trim({expression}), '')"


def email_sql(expression: str) -> str:
    cleaned = f"lower(trim({expression}))"
    return f"CASE WHEN regexp_matches({cleaned}, '{EMAIL_PATTERN}') THEN {cleaned} END"


def phone_sql(expression: str, region: str) -> str:
    """E.164 of a phone column, NULL when it cannot be one."""
    code = country_code(region)
    raw = f"regexp_replace(trim({expression}), '[(]0[)]', '', 'g')"  # "+44 (0)20 ..." drops "(0)"
    digits = f"regexp_replace({raw}, '[^0-9]', '', 'g')"
    lengths = NATIONAL_DIGITS.get(code, tuple(range(7, 13)))
    national_lengths = ", ".join(str(length) for length in lengths)
    with_code = lengths and ", ".join(str(length + len(str(code))) for length in lengths)
    candidate = (
        "CASE "
        f"WHEN starts_with({raw}, '+') THEN '+' || {digits} "
        f"WHEN starts_with({digits}, '00') THEN '+' || substr({digits}, 3) "
        f"WHEN starts_with({digits}, '0') THEN '+{code}' || substr({digits}, 2) "
        f"WHEN length({digits}) IN ({national_lengths}) THEN '+{code}' || {digits} "
        f"WHEN starts_with({digits}, '{code}') AND length({digits}) IN ({with_code}) "
        f"THEN '+' || {digits} "
        "END"
    )
    return (
        f"CASE WHEN regexp_matches({candidate}, '^\\+[1-9][0-9]{{7,14}}$') "
        f"AND replace(substr({candidate}, 2), substr({candidate}, 2, 1), '') <> '' "
        f"THEN {candidate} END"
    )


def identifier_sql(id_type: str, expression: str, region: str) -> str:
    if id_type == "email":
        return email_sql(expression)
    if id_type == "phone":
        return phone_sql(expression, region)
    return text_sql(expression)
