"""The SQL of aggregates: one ``GROUP BY uid`` pass per input for all the traits over it.

Each aggregate becomes one aggregate call with its filter as a ``FILTER (WHERE ...)`` clause
(a window adds ``time >= <first instant of its first day>``), so every trait over one input
is computed in one scan of it: the orders for counts, money, times, windows and months, the
non-order events for web activity and subscriptions, the per-day orders for the gaps, the
shares per dimension. Functions that need more than one aggregate call (the months of
``most_frequent`` and ``concentration``) name *partials* in the pass and combine them in a
select over it; partials with the same SQL are computed once (``top_month`` and
``month_concentration`` share the twelve month counts).

Money is summed exactly: ``amount`` is ``DECIMAL(18,2)`` and its sum a DECIMAL, cast to the
trait's type (DOUBLE) at the end, so the Python updater (``decimal`` arithmetic) gives the
same double. A mean is ``CAST(sum AS DOUBLE) / count``, the same two operations in Python.
``first``, ``last``, ``top`` and ``most_frequent`` break ties by the value (a struct key:
``arg_min(v, struct_pack(t := ts, v := v))``), so both engines and the updater agree.

The one function that cannot join a shared pass is ``most_frequent`` over values without a
known domain: it counts per person *and value* first (:func:`ranked_sql`).
"""

from __future__ import annotations

from datetime import date

from personae.engine.sql import literal, since_sql
from personae.profiles.algebra import Aggregate, Among, Condition, Value
from personae.profiles.formulas import filter_rule, rule_sql


def value_sql(value: Value) -> str:
    """The SQL of what an aggregate reads of each row."""
    if value.path is not None:
        text = f"json_extract_string({value.column}, {literal('$.' + value.path)})"
        return f"TRY_CAST({text} AS DOUBLE)" if value.number else text
    if value.part == "month":
        return f"month({value.column})"
    if value.part == "day":
        return f"CAST({value.column} AS DATE)"
    if value.part == "flag":
        return f"CASE WHEN {value.column} THEN 1 ELSE 0 END"
    return value.column


def _condition_sql(condition: Condition, aggregate: Aggregate, as_of: date) -> str:
    if isinstance(condition, Among):
        if len(condition.values) == 1:
            return f"{condition.column} = {literal(condition.values[0])}"
        return f"{condition.column} IN ({', '.join(literal(value) for value in condition.values)})"
    return rule_sql(filter_rule(condition, aggregate.input, aggregate.name), as_of)


def filter_sql(aggregate: Aggregate, as_of: date, *, not_null: bool = False) -> str | None:
    """The conditions a row meets to count (its filter, its window, and with ``not_null`` a value)."""
    conditions = [_condition_sql(condition, aggregate, as_of) for condition in aggregate.filter]
    if aggregate.window is not None:
        conditions.append(f"{aggregate.input.time} >= {since_sql(as_of, aggregate.window)}")
    if not_null:
        conditions += [f"{value_sql(v)} IS NOT NULL" for v in (aggregate.value, aggregate.by) if v is not None]
    return " AND ".join(conditions) if conditions else None


def _filtered(call: str, condition: str | None) -> str:
    return call if condition is None else f"{call} FILTER (WHERE {condition})"


class _Pass:
    """The partial aggregates of one pass, each computed once, and the expressions over them."""

    def __init__(self) -> None:
        self.partials: dict[str, str] = {}
        """SQL -> alias."""

    def partial(self, sql: str, alias: str) -> str:
        """The alias of a partial, added unless the same SQL is already there (aliases stay unique)."""
        if sql not in self.partials:
            taken = set(self.partials.values())
            self.partials[sql] = alias if alias not in taken else f"{alias}_{len(taken)}"
        return self.partials[sql]

    def final(self, aggregate: Aggregate, as_of: date) -> str:
        """The aggregate's value, over the partials it adds."""
        name, function = aggregate.name, aggregate.function
        if function in ("most_frequent", "concentration"):
            return self._domain(aggregate, as_of)
        condition = filter_sql(aggregate, as_of)
        value = value_sql(aggregate.value) if aggregate.value is not None else None
        if function == "count":
            return self.partial(_filtered(f"count({value or '*'})", condition), name)
        if function == "sum":
            return self.partial(f"CAST({_filtered(f'sum({value})', condition)} AS {aggregate.type})", name)
        if function == "avg":
            total = self.partial(_filtered(f"sum({value})", condition), f"{name}_sum")
            count = self.partial(_filtered(f"count({value})", condition), f"{name}_count")
            return f"CAST({total} AS DOUBLE) / NULLIF({count}, 0)"
        if function == "unique_count":
            distinct = f"CASE WHEN {condition} THEN {value} END" if condition else value
            return self.partial(f"count(DISTINCT {distinct})", name)
        sql = {"min": "min", "max": "max", "median": "median", "stddev": "stddev_samp"}.get(function)
        if sql is not None:
            return self.partial(_filtered(f"{sql}({value})", condition), name)
        return self.partial(_ranked_call(aggregate, as_of), name)

    def _domain(self, aggregate: Aggregate, as_of: date) -> str:
        """most_frequent / concentration of a value with few known values: a count per value."""
        value = aggregate.value
        assert value is not None and value.domain is not None  # checked by the catalog
        condition = filter_sql(aggregate, as_of)
        counts = [
            self.partial(
                f"count(*) FILTER (WHERE {f'{condition} AND ' if condition else ''}{value_sql(value)} = {item})",
                f"m{item}" if condition is None else f"{aggregate.name}_{item}",  # the domain is the months
            )
            for item in value.domain
        ]
        if aggregate.function == "concentration":
            total = self.partial(_filtered(f"count({value_sql(value)})", condition), f"{aggregate.name}_count")
            squares = " + ".join(f"{count} * {count}" for count in counts)
            return f"CAST({squares} AS DOUBLE) / NULLIF(CAST({total} AS DOUBLE) * {total}, 0)"
        most = f"greatest({', '.join(counts)})"
        whens = " ".join(f"WHEN {count} = {most} THEN {item}" for count, item in zip(counts, value.domain, strict=True))
        return f"CAST(CASE WHEN {most} = 0 THEN NULL {whens} END AS {aggregate.type})"


def _ranked_call(aggregate: Aggregate, as_of: date) -> str:
    """first / last / top: the value at the smallest (largest) key, the value itself breaking ties."""
    assert aggregate.value is not None
    value = value_sql(aggregate.value)
    if aggregate.function == "top":
        assert aggregate.by is not None
        by = value_sql(aggregate.by)
        call = f"arg_min({value}, struct_pack(k := -{by if by.isidentifier() else f'({by})'}, v := {value}))"
    else:
        pick = "arg_min" if aggregate.function == "first" else "arg_max"
        call = f"{pick}({value}, struct_pack(t := {aggregate.input.time}, v := {value}))"
    return _filtered(call, filter_sql(aggregate, as_of, not_null=True))


def needs_own_pass(aggregate: Aggregate) -> bool:
    """``most_frequent`` of a value without a known domain counts per value first."""
    return aggregate.function == "most_frequent" and (aggregate.value is None or aggregate.value.domain is None)


def pass_sql(aggregates: list[Aggregate], relation: str, as_of: date) -> str:
    """``uid`` and each aggregate (by its name), in one ``GROUP BY uid`` over ``relation``."""
    built = _Pass()
    finals = [(aggregate.name, built.final(aggregate, as_of)) for aggregate in aggregates]
    partials = ", ".join(f"{sql} AS {alias}" for sql, alias in built.partials.items())
    grouped = f"SELECT uid, {partials} FROM {relation} GROUP BY uid"
    if all(final == name for name, final in finals):
        return grouped
    kept = ", ".join(final if final == name else f"{final} AS {name}" for name, final in finals)
    return f"SELECT uid, {kept} FROM ({grouped}) AS s"


def ranked_sql(aggregate: Aggregate, relation: str, as_of: date) -> str:
    """``uid`` and the most frequent value (ties: the smallest), counted per person and value."""
    assert aggregate.value is not None
    value = value_sql(aggregate.value)
    condition = filter_sql(aggregate, as_of, not_null=True)
    counts = f"SELECT uid, {value} AS value, count(*) AS n FROM {relation} WHERE {condition} GROUP BY uid, {value}"
    return (
        f"SELECT uid, arg_min(value, struct_pack(k := -n, v := value)) AS {aggregate.name} "
        f"FROM ({counts}) AS c GROUP BY uid"
    )
