"""What each kind of source holds: its canonical columns, their types, and its target table.

Pure data: the ingestion SQL is built from these declarations, the config validates
mappings against them, and ``docs/config.md`` documents them.

Only what a row cannot exist without quarantines it: a *required* column that is missing
or does not parse (an order without an id, a time or an amount), or a *strict* one whose
value does not parse (a membership's ``member``: guessing it would put someone in a
segment they left). Any other column with a value that does not parse (a birth date
``19450493``, a quantity ``two``) is loaded as NULL and reported in ``field_issues``,
like an invalid identifier: one bad attribute must not lose the whole record.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SourceKind(StrEnum):
    ORDERS = "orders"
    ORDER_ITEMS = "order_items"
    EVENTS = "events"
    CUSTOMERS = "customers"
    SURVEY = "survey"
    MEMBERSHIPS = "memberships"


class ColumnType(StrEnum):
    TEXT = "VARCHAR"
    TIMESTAMP = "TIMESTAMP"
    DATE = "DATE"
    MONEY = "DECIMAL(18,2)"
    INTEGER = "BIGINT"
    BOOLEAN = "BOOLEAN"
    JSON = "JSON"  # stored as VARCHAR holding a JSON document


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    doc: str = ""
    strict: bool = False
    """A value that does not parse quarantines the row (a required column's always does)."""

    @property
    def quarantines_bad_values(self) -> bool:
        return self.required or self.strict


_TS = Column("ts", ColumnType.TIMESTAMP, True, "when it happened (UTC)")

KIND_COLUMNS: dict[SourceKind, tuple[Column, ...]] = {
    SourceKind.ORDERS: (
        Column("order_id", ColumnType.TEXT, True, "order id, unique within the source"),
        _TS,
        Column("amount", ColumnType.MONEY, True, "order total"),
        Column("currency", ColumnType.TEXT, doc="ISO currency; defaults to the workspace's"),
        Column("channel", ColumnType.TEXT, doc="store, web, app, ..."),
        Column("store_id", ColumnType.TEXT, doc="shop or till"),
        Column("promo", ColumnType.BOOLEAN, doc="bought on promotion"),
        Column("status", ColumnType.TEXT, doc="completed, returned, ..."),
    ),
    SourceKind.ORDER_ITEMS: (
        Column("order_id", ColumnType.TEXT, True, "the order the line belongs to"),
        Column("line_id", ColumnType.TEXT, doc="line number within the order"),
        Column("ts", ColumnType.TIMESTAMP, doc="when it was bought"),
        Column("product_id", ColumnType.TEXT, True, "product or SKU"),
        Column("category", ColumnType.TEXT, doc="product category"),
        Column("quantity", ColumnType.INTEGER, doc="units; defaults to 1"),
        Column("amount", ColumnType.MONEY, True, "line total"),
        Column("currency", ColumnType.TEXT, doc="ISO currency; defaults to the workspace's"),
        Column("channel", ColumnType.TEXT, doc="store, web, app, ..."),
        Column("promo", ColumnType.BOOLEAN, doc="bought on promotion"),
    ),
    SourceKind.EVENTS: (
        Column("event_id", ColumnType.TEXT, True, "Segment messageId"),
        Column("type", ColumnType.TEXT, True, "identify, track, page, screen, group, alias"),
        Column("name", ColumnType.TEXT, doc="track event or page name"),
        _TS,
        Column("properties", ColumnType.JSON, doc="properties (track/page) or traits (identify)"),
        Column("amount", ColumnType.MONEY, doc="revenue or total property, when present"),
        Column("category", ColumnType.TEXT, doc="category property"),
        Column("product_id", ColumnType.TEXT, doc="product_id property"),
        Column("channel", ColumnType.TEXT, doc="context channel; defaults to 'web'"),
    ),
    SourceKind.CUSTOMERS: (
        Column("record_id", ColumnType.TEXT, True, "record id in the source system"),
        Column("updated_at", ColumnType.TIMESTAMP, doc="last change in the source"),
        Column("first_name", ColumnType.TEXT),
        Column("last_name", ColumnType.TEXT),
        Column("birth_date", ColumnType.DATE),
        Column("gender", ColumnType.TEXT),
        Column("street", ColumnType.TEXT),
        Column("city", ColumnType.TEXT),
        Column("postcode", ColumnType.TEXT),
        Column("country", ColumnType.TEXT),
        Column("email_opt_in", ColumnType.BOOLEAN, doc="consent to marketing e-mail"),
        Column("sms_opt_in", ColumnType.BOOLEAN, doc="consent to marketing SMS"),
        Column("email_opens", ColumnType.INTEGER, doc="e-mails opened (e-mail platforms)"),
        Column("email_clicks", ColumnType.INTEGER, doc="e-mails clicked (e-mail platforms)"),
    ),
    SourceKind.SURVEY: (
        Column("record_id", ColumnType.TEXT, True, "response id"),
        _TS,
        Column("segment", ColumnType.TEXT, doc="attitudinal segment, if the survey assigns one"),
    ),
    SourceKind.MEMBERSHIPS: (
        Column("record_id", ColumnType.TEXT, doc="row id in the other system; default: derived from the row"),
        Column("segment_id", ColumnType.TEXT, doc="the segment's external id (seg_…), as personae exports it"),
        Column("segmentation", ColumnType.TEXT, doc="segmentation name; default: the imported segmentation's"),
        Column("segment", ColumnType.TEXT, doc="segment name (segment_id or segment is required)"),
        Column(
            "member",
            ColumnType.BOOLEAN,
            doc="false: taken out of the segment (an unsubscribe); default true",
            strict=True,
        ),
        Column("uid", ColumnType.TEXT, doc="personae's UID, as exported (a merged-away UID is followed)"),
        Column("ts", ColumnType.TIMESTAMP, doc="when it was set there (UTC); default: when it was loaded"),
    ),
}

ROW_CHECKS: dict[SourceKind, tuple[tuple[str, str], ...]] = {
    SourceKind.MEMBERSHIPS: (
        (
            "segment_id IS NOT NULL OR segment IS NOT NULL",
            "no segment_id and no segment: a membership row names its segment by one of them",
        ),
    ),
}
"""Per kind, (SQL condition over the typed columns that a good row meets, the reason a row
that does not is quarantined with): checks across columns, which no single column states."""

TARGET_TABLE: dict[SourceKind, str] = {
    SourceKind.ORDERS: "events",
    SourceKind.ORDER_ITEMS: "events",
    SourceKind.EVENTS: "events",
    SourceKind.CUSTOMERS: "customer_records",
    SourceKind.SURVEY: "survey_responses",
    SourceKind.MEMBERSHIPS: "imported_memberships",
}

SEGMENT_EVENT_TYPES: tuple[str, ...] = ("identify", "track", "page", "screen", "group", "alias")


def column_names(kind: SourceKind) -> tuple[str, ...]:
    return tuple(column.name for column in KIND_COLUMNS[kind])
