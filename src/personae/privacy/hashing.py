"""Hashed identifiers for advertising destinations: SHA-256 of the normalised value, in SQL and in Python.

Advertising platforms match customer lists on hashes, never clear values (Google Ads
Customer Match, Meta custom audiences). Both ask for the lower-case hex SHA-256 of:

- **e-mail**: trimmed and lower-cased (``" Jane@Example.COM "`` → ``jane@example.com``).
  personae's own normalisation (``sources/normalise.py``) is the same, and a value that is
  not an e-mail address hashes to NULL (nothing is sent) rather than to a hash no
  platform can match.
- **phone**: E.164, as ingest normalises it (``phone_region`` for national numbers).
  Google wants the ``+`` kept (``+14155550100``): ``phone_format = "e164"``, the default.
  Meta wants the digits alone, country code first (``14155550100``):
  ``phone_format = "digits"``.

The SQL is the definition (the delivery loop hashes in the engine, before anything leaves
the store); the Python functions are its twins, for code that holds one value, and the
tests run both against the same published vectors.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from personae.identity import live_normalise
from personae.sources.normalise import email_sql, phone_sql

PhoneFormat = Literal["e164", "digits"]
HASHED_TYPES = ("email", "phone")
"""The identifiers (golden-record columns) a destination with ``hash_identifiers`` hashes."""


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hashed_email(raw: str | None) -> str | None:
    """SHA-256 hex of the normalised e-mail address; None when it is not one.

    >>> hashed_email("  Test@Example.com ")
    '973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b'
    """
    value = live_normalise.email(raw) if raw is not None else None
    return _sha256_hex(value) if value is not None else None


def hashed_phone(raw: str | None, region: str = "US", phone_format: PhoneFormat = "e164") -> str | None:
    """SHA-256 hex of the E.164 phone number (``digits``: without the ``+``); None when it is not one.

    >>> hashed_phone("(415) 555-0100")
    '40d3f4e02db27d66cf4cfdda506c2c945f115a7955cc8491dda98ce5beabcda0'
    """
    value = live_normalise.phone(raw, region) if raw is not None else None
    if value is None:
        return None
    return _sha256_hex(value.removeprefix("+") if phone_format == "digits" else value)


def hashed_email_sql(expression: str) -> str:
    """:func:`hashed_email` as a SQL expression (``sha256`` transpiles to Spark's ``sha2``)."""
    return f"sha256({email_sql(expression)})"


def hashed_phone_sql(expression: str, region: str = "US", phone_format: PhoneFormat = "e164") -> str:
    """:func:`hashed_phone` as a SQL expression."""
    value = phone_sql(expression, region)
    if phone_format == "digits":
        value = f"substr({value}, 2)"
    return f"sha256({value})"


def hashed_sql(id_type: str, expression: str, region: str = "US", phone_format: PhoneFormat = "e164") -> str:
    """The hash of an identifier column of type ``id_type`` (one of :data:`HASHED_TYPES`)."""
    if id_type == "email":
        return hashed_email_sql(expression)
    if id_type == "phone":
        return hashed_phone_sql(expression, region, phone_format)
    raise ValueError(f"identifier type {id_type!r} is not hashed; hashed types are {', '.join(HASHED_TYPES)}")
