"""The consent gate of a destination that serves a purpose: who may be sent to it, and what a
change of consent sends.

A destination with ``purpose = "advertising"`` receives only the people who may be used for
advertising (their latest decision, else the purpose's default; see
:mod:`personae.privacy.consent`): the feed, the trait states and the snapshot are all
filtered (:func:`personae.activation.feed.selection_sql`). Filtering alone would leave a
person who withdraws in the segments the destination already holds, and would never send
the memberships of one who grants consent later. So each sync, before the feed, the gate
compares each person's consent now with what the destination was last told
(``sync_marks``, part ``consent``: ``1`` allowed, ``0`` not; no mark: the default) and sends:

- on a **withdrawal**, an ``exited`` change for every segment the destination holds them in
  (the membership changes it was sent up to its cursor);
- on a **grant**, an ``entered`` change for every segment they were in at the cursor (later
  changes follow in the feed, which now lets them through).

Gate changes carry the cursor's sequence (they are the state at it) and keys
``<dest>:c:<uid>:<revision>:<segment_id>``; the marks move when the batch is committed, so a
crash resends the same keys. Trait states are not withdrawn: the person's values are no
longer sent (a limitation, said in docs/privacy.md).
"""

from __future__ import annotations

from personae.activation.feed import SEGMENT_ID_SQL, selection_sql
from personae.activation.holdout import held_out_sql
from personae.activation.specs import DestinationSpec
from personae.engine.sql import literal
from personae.privacy.purposes import Purpose

CONSENT_PART = "consent"
GATE_COLUMNS = (
    "key",
    "sequence",
    "uid",
    "change",
    "segmentation",
    "segment",
    "segment_id",
    "score",
    "changed_at",
)


def changed_people_sql(spec: DestinationSpec, purpose: Purpose) -> str:
    """The people whose consent to ``purpose`` differs from what ``spec`` was last told:
    ``uid``, ``allowed`` (now), ``digest`` (``1``/``0``) and the next ``revision``."""
    default = "TRUE" if purpose.granted_by_default else "FALSE"
    marks = (
        "SELECT uid, digest, revision FROM sync_marks "
        f"WHERE destination = {literal(spec.name)} AND part = {literal(CONSENT_PART)}"
    )
    decided = f"SELECT uid, granted FROM consent WHERE purpose = {literal(purpose.name)}"
    people = f"SELECT uid FROM ({decided}) AS d UNION SELECT uid FROM ({marks}) AS k"
    now = (
        f"SELECT p.uid, coalesce(d.granted, {default}) AS allowed, coalesce(m.digest = '1', {default}) AS told, "
        f"coalesce(m.revision, 0) + 1 AS revision FROM ({people}) AS p "
        f"LEFT JOIN ({decided}) AS d ON d.uid = p.uid LEFT JOIN ({marks}) AS m ON m.uid = p.uid"
    )
    held = f" AND NOT {held_out_sql('uid', spec.name, spec.holdout)}" if spec.holdout else ""
    return (
        "SELECT uid, allowed, CASE WHEN allowed THEN '1' ELSE '0' END AS digest, revision "
        f"FROM ({now}) AS n WHERE allowed <> told{held}"
    )


def gate_changes_sql(spec: DestinationSpec, changed: str, cursor: int, stamp: str) -> str:
    """The membership changes a gate sends for the people in ``changed`` (the relation of
    :func:`changed_people_sql`): each segment they were in at sequence ``cursor``."""
    latest = (
        "SELECT uid, segmentation, segment, change, score, row_number() OVER "
        "(PARTITION BY uid, segmentation, segment ORDER BY sequence DESC) AS _n FROM membership_changes "
        f"WHERE sequence <= {int(cursor)} AND ({selection_sql(spec)}) AND uid IN (SELECT uid FROM {changed})"
    )
    held = (
        "SELECT l.uid, l.segmentation, l.segment, l.score, c.allowed, c.revision "
        f"FROM ({latest}) AS l JOIN {changed} AS c ON c.uid = l.uid WHERE l._n = 1 AND l.change = 'entered'"
    )
    key = f"{literal(spec.name + ':c:')} || uid || ':' || CAST(revision AS VARCHAR) || ':' || {SEGMENT_ID_SQL}"
    return (
        f"SELECT {key} AS key, CAST({int(cursor)} AS BIGINT) AS sequence, uid, "
        "CASE WHEN allowed THEN 'entered' ELSE 'exited' END AS change, segmentation, segment, "
        f"{SEGMENT_ID_SQL} AS segment_id, score, {stamp} AS changed_at FROM ({held}) AS h "
        "ORDER BY uid, segmentation, segment"
    )
