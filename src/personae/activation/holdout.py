"""Who is held out of an experiment: a stable hash of UID and experiment name.

A person is held out of experiment ``name`` with share ``s`` when the first eight hex digits
of ``md5(uid + '/' + name)`` fall below ``s`` of the range. Fixed-width lower-case hex
compares as text in the same order as the number, so the same test is one string
comparison in SQL on every engine (DuckDB and Spark both have ``md5``) and in Python: the
same person stays in the same arm across runs, engines and the server, and each experiment
draws its own arms.
"""

from __future__ import annotations

import hashlib

from personae.engine.sql import literal

_DIGITS = 8


def threshold(share: float) -> str:
    """The hex bound under which a hash is held out (``00000000`` holds nobody out).

    >>> threshold(0.0), threshold(0.5), threshold(0.1)
    ('00000000', '80000000', '19999999')
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"a holdout share is at least 0 and below 1, not {share}")
    return format(int(share * 16**_DIGITS), f"0{_DIGITS}x")


def is_held_out(uid: str, experiment: str, share: float) -> bool:
    """Whether ``uid`` is in the held-out arm of ``experiment``."""
    digest = hashlib.md5(f"{uid}/{experiment}".encode(), usedforsecurity=False).hexdigest()
    return digest[:_DIGITS] < threshold(share)


def held_out_sql(uid_column: str, experiment: str, share: float) -> str:
    """The SQL test equal to :func:`is_held_out` for the UIDs in ``uid_column``."""
    hashed = f"substr(md5({uid_column} || {literal('/' + experiment)}), 1, {_DIGITS})"
    return f"({hashed} < {literal(threshold(share))})"
