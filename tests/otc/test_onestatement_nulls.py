"""``onestatement.insert`` writes a NULL value as ``NULL`` in the statement's text instead of
sending it as a parameter: the rows are the same, and a quote's writes stay within the 50
parameters psycopg parses once per process (above that it parses the statement's text again
for every call)."""

import pytest
from django.db import connection, transaction
from psycopg import _queries

from otc import onestatement
from otc.models import OrderFee

pytestmark = pytest.mark.django_db


def _keeping(sent: list):
    """An execute wrapper that keeps each statement's text and parameters as sent."""

    def keep(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    return keep


def test_null_and_set_values_are_written_as_given_row_by_row(acme, buy_quote):
    order = buy_quote(acme)
    first = max(order.fees.values_list("position", flat=True), default=0) + 1
    lines = [
        # Column by column: NULL in every row (bps), in some rows (amount), in none.
        OrderFee(order=order, position=first, type="a", description="x", amount=None, bps=None),
        OrderFee(order=order, position=first + 1, type="b", description="y", amount="1.50"),
        OrderFee(order=order, position=first + 2, type="c", description="z", amount=None),
    ]
    sent = []
    with connection.execute_wrapper(_keeping(sent)), transaction.atomic():
        onestatement.insert(lines)

    stored = list(
        OrderFee.objects.filter(order=order, position__gte=first)
        .order_by("position")
        .values_list("type", "amount", "bps")
    )
    assert [(t, str(a) if a is not None else None, b) for t, a, b in stored] == [
        ("a", None, None),
        ("b", "1.500000", None),
        ("c", None, None),
    ]
    if connection.vendor == "postgresql":
        ((sql, params),) = [(s, p) for s, p in sent if "otc_orderfee" in s]
        assert sql.count("NULL") == 5
        assert len(params) == 3 * 6 - 5


def test_a_quotes_writes_stay_within_psycopgs_parsed_statement_cache(acme, buy_quote):
    if connection.vendor != "postgresql":
        pytest.skip("one statement for a quote's writes is PostgreSQL's")
    sent = []
    with connection.execute_wrapper(_keeping(sent)):
        buy_quote(acme)
    (sql, params) = next((s, p) for s, p in sent if 'INSERT INTO "otc_order"' in s)
    assert sql.count("INSERT") >= 3  # the order, its fee lines and its timeline together
    assert len(params) <= _queries.MAX_CACHED_STATEMENT_PARAMS
    assert len(sql) <= _queries.MAX_CACHED_STATEMENT_LENGTH
