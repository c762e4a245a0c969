"""Hot reads as SQL compiled once per process.

Compiling a QuerySet (resolving lookups and joins, quoting every column) costs more CPU than
PostgreSQL spends running a hot read by primary key. Two tools for the reads every request or
settlement step makes:

- ``CompiledValues``: a ``values_list`` QuerySet compiled once with placeholder arguments;
  each call sends the same SQL with its own arguments (and the ORM's converters).
- ``CompiledQuery``: the same for a QuerySet of model instances (``select_related`` and
  ``select_for_update`` included): the instances are built as the ORM builds them.
- ``model_columns`` / ``model_instance``: the column list of a model and an instance built
  from a slice of a row, for a hand-written join that reads several models at once.

Both are for PostgreSQL; on SQLite (the embedded demo) the QuerySet runs as it is.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators


@functools.cache
def model_columns(model: type[Model], alias: str) -> tuple[list[str], str]:
    """(attribute names, ``alias."column", …``) of ``model``'s concrete fields, in order
    (once per process: do not change the list)."""
    fields = [f.attname for f in model._meta.concrete_fields]
    columns = ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)
    return fields, columns


@functools.cache
def _field_converters(model: type[Model]) -> list[tuple[int, Any, list]]:
    """(position, column, converters) of each field of ``model`` whose database value the ORM
    converts when it loads a row (a JSONField's text, say): the backend's converters first,
    then the field's, as the ORM's compiler orders them."""
    connection = connections["default"]
    found = []
    for position, field in enumerate(model._meta.concrete_fields):
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if converters:
            found.append((position, column, converters))
    return found


def model_instance(model: type[Model], fields: list[str], values: tuple) -> Model | None:
    """The instance a row slice read with ``model_columns`` describes, as the ORM would load
    it (its fields' converters applied); None when its primary key is NULL (an outer join
    that found nothing)."""
    if values[fields.index(model._meta.pk.attname)] is None:
        return None
    converting = _field_converters(model)
    if converting:
        connection = connections["default"]
        values = list(values)
        for position, column, converters in converting:
            for converter in converters:
                values[position] = converter(values[position], column, connection)
    return model.from_db("default", fields, values)


class _Compiled:
    """A QuerySet ``build(**arguments)`` compiled on first use with ``placeholders`` (a value
    per argument, of its type) and run from then on with each call's arguments in their
    places. Each argument must reach the SQL as it is (an exact lookup on its field), so it
    can be found among the compiled parameters. A QuerySet that locks rows is compiled inside
    the caller's transaction, as the ORM requires."""

    def __init__(self, build: Callable[..., QuerySet], **placeholders: Any) -> None:
        self.build = build
        self.placeholders = placeholders
        self._compiled: Any = None

    def _compile(self, using: str) -> tuple:
        queryset = self.build(**self.placeholders)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        slots: dict[str, list[int]] = {}
        for name, value in self.placeholders.items():
            slots[name] = [i for i, param in enumerate(params) if param == value]
            if not slots[name]:
                raise ValueError(f"{name} does not reach the SQL as it is")
        converters = compiler.get_converters(
            [column for column, _, _ in compiler.select[: compiler.col_count]]
        )
        return sql, list(params), slots, compiler, converters

    def _rows(self, arguments: dict[str, Any]) -> tuple[list, Any]:
        """The converted rows for ``arguments`` and the compiler that compiled the SQL."""
        connection = connections["default"]
        if self._compiled is None:
            self._compiled = self._compile("default")
        sql, template, slots, compiler, converters = self._compiled[:5]
        params = list(template)
        for name, positions in slots.items():
            for position in positions:
                params[position] = arguments[name]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if converters:
            rows = [tuple(row) for row in compiler.apply_converters(rows, converters)]
        return rows, compiler


class CompiledValues(_Compiled):
    """A ``values_list`` QuerySet compiled once (see ``_Compiled``): rows as tuples."""

    def rows(self, **arguments: Any) -> list[tuple]:
        if connections["default"].vendor != "postgresql":
            return list(self.build(**arguments))
        return self._rows(arguments)[0]

    def first(self, **arguments: Any) -> tuple | None:
        rows = self.rows(**arguments)
        return rows[0] if rows else None


class CompiledQuery(_Compiled):
    """A QuerySet of model instances compiled once (see ``_Compiled``), ``select_related``
    rows included: each row becomes its instance and related instances as the ORM's own
    iterator builds them. No annotations, ``extra`` or ``only``/``defer``."""

    def _compile(self, using: str) -> tuple:
        compiled = super()._compile(using)
        compiler = compiled[3]
        if compiler.annotation_col_map or compiler.query.deferred_loading[0]:
            raise ValueError("CompiledQuery builds whole instances without annotations")
        klass_info, select = compiler.klass_info, compiler.select
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        init_list = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, using)
        return (*compiled, (klass_info["model"], start, end, init_list, populators))

    def all(self, **arguments: Any) -> list[Model]:
        if connections["default"].vendor != "postgresql":
            return list(self.build(**arguments))
        rows, _ = self._rows(arguments)
        model, start, end, init_list, populators = self._compiled[5]
        instances = []
        for row in rows:
            instance = model.from_db("default", init_list, row[start:end])
            for populator in populators:
                populator.populate(row, instance)
            instances.append(instance)
        return instances

    def first(self, **arguments: Any) -> Model | None:
        instances = self.all(**arguments)
        return instances[0] if instances else None


def placeholder_uuid() -> uuid.UUID:
    """A UUID no row has, to stand for a UUID argument at compile time."""
    return uuid.uuid4()
