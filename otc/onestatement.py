"""Writes that belong together, sent to PostgreSQL as one statement.

A transition writes its order's timeline row and its outbox event (with the deliveries); a
quote also writes the order and its fee lines. None of these writes reads another's rows, so
inside ``together()`` they are queued and, when the block ends, sent as one statement: each
write but the last becomes a data-modifying ``WITH`` member, the last (the one whose rows the
caller wants back, if any) is the statement itself. PostgreSQL runs all of them in the same
snapshot and checks foreign keys at the end of the statement, so a fee line may refer to the
order inserted beside it. One round trip instead of four, and the same rows, constraints and
triggers as one statement each.

The rule for callers: nothing inside the block may read what a queued write writes (the rows
are not there until the block ends). Outside a block, or on another database (the embedded
SQLite demo), every write runs at once, so the same code is correct everywhere.
"""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection
from django.db.models import Model
from django.db.models.sql import InsertQuery

RowsCallback = Callable[[list[tuple]], None]


@dataclass
class _Write:
    sql: str
    params: list
    on_rows: RowsCallback | None


_queue: contextvars.ContextVar[list[_Write] | None] = contextvars.ContextVar(
    "otc_one_statement", default=None
)
_NAMED = re.compile(r"%\((\w+)\)s")


def _positional(sql: str, params: Sequence | dict) -> tuple[str, list]:
    """``%(name)s`` placeholders as ``%s`` with the values in order (a name may repeat)."""
    if not isinstance(params, dict):
        return sql, list(params)
    values: list = []

    def one(match: re.Match) -> str:
        values.append(params[match.group(1)])
        return "%s"

    return _NAMED.sub(one, sql), values


def _execute(sql: str, params: Sequence | dict, on_rows: RowsCallback | None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if on_rows is not None:
            on_rows(cursor.fetchall() if cursor.description else [])


def write(sql: str, params: Sequence | dict, on_rows: RowsCallback | None = None) -> None:
    """Run a data-modifying statement now, or at the end of the open ``together()`` block.
    ``on_rows`` receives what its ``RETURNING`` returns (at most one write of a block may
    ask)."""
    queue = _queue.get()
    if queue is None:
        _execute(sql, params, on_rows)
        return
    sql, params = _positional(sql, params)
    queue.append(_Write(sql.strip(), params, on_rows))


def insert(objs: Iterable[Model]) -> None:
    """INSERT ``objs`` (instances of one model, primary keys already set or automatic and not
    needed back) as ``Model.save`` would, as one queued write; the instances then count as
    saved. On SQLite they are saved at once."""
    objs = list(objs)
    if not objs:
        return
    meta = objs[0]._meta.concrete_model._meta
    if connection.vendor != "postgresql":
        if len(objs) == 1:
            objs[0].save(force_insert=True)
        else:
            meta.model.objects.bulk_create(objs)
        return
    fields = tuple(
        f
        for f in meta.local_concrete_fields
        if not f.generated and (f is not meta.auto_field or getattr(objs[0], f.attname))
    )
    # Each field's value as ``Model.save`` takes it (``pre_save``: ``auto_now`` and the like)
    # and prepares it for the database; one statement for all rows, no RETURNING.
    rows = [[f.pre_save(obj, True) for f in fields] for obj in objs]
    if any(hasattr(f, "get_placeholder") for f in fields) or any(
        hasattr(value, "resolve_expression") for row in rows for value in row
    ):
        # A field with a placeholder of its own, or an expression: the ORM compiles it.
        query = InsertQuery(meta.model)
        query.insert_values(list(fields), objs, raw=False)
        ((sql, params),) = query.get_compiler(connection=connection).as_sql()
    else:
        prepared = [
            f.get_db_prep_save(value, connection=connection)
            for row in rows
            for f, value in zip(fields, row, strict=True)
        ]
        # A value that is NULL is written as NULL, not sent: fewer parameters (psycopg
        # parses a statement's placeholders once per process only up to 50 of them; a quote's
        # writes together come to 66 with the order's empty columns sent one by one).
        nulls = tuple(value is None for value in prepared)
        sql = _insert_sql(meta.model, fields, len(objs), nulls)
        params = [value for value in prepared if value is not None]
    write(sql, params)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


@functools.lru_cache(maxsize=1024)
def _insert_sql(model: type[Model], fields: tuple, rows: int, nulls: tuple[bool, ...]) -> str:
    """``INSERT INTO table (columns) VALUES (%s, NULL, ...), ...`` for ``rows`` rows, with
    ``NULL`` where ``nulls`` (row by row, field by field) says the value is NULL: the text is
    the same for every insert of the same shape, so it is built once per process (a bounded
    cache: the shapes are few, but which columns are NULL is the data's to say)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    width = len(fields)
    values = ", ".join(
        "("
        + ", ".join("NULL" if null else "%s" for null in nulls[n * width : (n + 1) * width])
        + ")"
        for n in range(rows)
    )
    table = quote(model._meta.db_table)
    return f"INSERT INTO {table} ({columns}) VALUES {values}"  # noqa: S608 - quoted names


def _send(writes: list[_Write]) -> None:
    asking = [w for w in writes if w.on_rows is not None]
    main = asking[0] if asking else writes[-1]
    nested = any(w.sql[:4].upper() == "WITH" for w in writes if w is not main)
    if len(asking) > 1 or nested:
        # One statement returns one set of rows, and a WITH list cannot nest data-modifying
        # members: such writes go one by one.
        for w in writes:
            _execute(w.sql, w.params, w.on_rows)
        return
    members = [w for w in writes if w is not main]
    if not members:
        _execute(main.sql, main.params, main.on_rows)
        return
    ctes = ", ".join(f"w{n} AS ({w.sql})" for n, w in enumerate(members))
    params = [p for w in members for p in w.params]
    if main.sql[:4].upper() == "WITH":
        # The main statement's own WITH list goes after ours (PostgreSQL allows data-modifying
        # WITH members at the top level only).
        sql = f"WITH {ctes}, {main.sql[4:].lstrip()}"
    else:
        sql = f"WITH {ctes} {main.sql}"
    _execute(sql, params + main.params, main.on_rows)


@contextmanager
def together():
    """Queue the writes made inside the block (``write``, ``insert``) and send them as one
    statement when it ends without an error. Nested blocks join the outer one. Not on SQLite:
    there every write runs at once."""
    if connection.vendor != "postgresql" or _queue.get() is not None:
        yield
        return
    queue: list[_Write] = []
    token = _queue.set(queue)
    try:
        yield
    finally:
        _queue.reset(token)
    if queue:
        _send(queue)
