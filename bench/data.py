"""Demo data for the benchmark, made the way the tests and customers make theirs.

Customers, accounts, wallets and keys go through ``tests.factories`` (which go through the
services, so every account gets its ledger account); orders are made through the customer API
(quote, confirm) in process. Only the bulk of the 10,000-order list and the 100,000 stale
quotes is copied in SQL from one order made that way (``clone_orders``): the copy reads the
column list from the model, so a new column is carried along without a change here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import AutoField, BigAutoField, UUIDField

from otc.models import Order


@dataclass(frozen=True)
class BenchCustomer:
    slug: str
    customer_id: str
    api_key: str
    account_id: str
    wallet_id: str


def make_customer(slug: str, *, eur: str = "10000000.00") -> BenchCustomer:
    """A customer with a funded EUR master account, a USDC wallet and a read+write API key."""
    from tests import factories

    with transaction.atomic():
        customer = factories.CustomerFactory(slug=slug, name=f"Bench {slug}")
        account = factories.make_account(
            customer, label="EUR master account", balance=eur, is_master=True
        )
        wallet = factories.make_wallet(customer, label="Operations wallet")
        key = factories.make_key(customer)
    return BenchCustomer(slug, str(customer.pk), key, str(account.pk), str(wallet.pk))


def buy_quote_body(who: BenchCustomer, amount: str = "100.00") -> dict:
    return {
        "side": "buy",
        "sourceFrAccountId": who.account_id,
        "destinationUtilaWalletId": who.wallet_id,
        "sourceAmountEur": amount,
    }


def quote(who: BenchCustomer, amount: str = "100.00") -> Order:
    """An open buy quote, made through the customer API in process (the contract's request is
    what changes least)."""
    from .inprocess import ApiCaller

    return Order.objects.get(pk=ApiCaller(who).quote(amount))


def confirmed_order(who: BenchCustomer, amount: str = "100.00") -> Order:
    """A confirmed buy (its EUR debited), quoted and confirmed through the API in process."""
    from .inprocess import ApiCaller

    api = ApiCaller(who)
    quote_id = api.quote(amount)
    api.confirm(quote_id)
    return Order.objects.get(pk=quote_id)


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def _child_tables() -> list[tuple[type, str]]:
    """The models of the ``otc`` app that hang off an order (its timeline, fee lines...), with
    the column pointing at the order. Rows with a unique business key of their own (a provider
    transfer's idempotent reference) cannot be copied as they are and are left out: the order
    list does not read them."""
    children = []
    for rel in Order._meta.related_objects:
        model = rel.related_model
        unique_keys = [f for f in model._meta.concrete_fields if f.unique and not f.primary_key]
        if rel.one_to_many and model._meta.app_label == Order._meta.app_label and not unique_keys:
            children.append((model, rel.field.column))
    return children


def _copy_columns(model, overrides: dict[str, str], *, source_alias: str) -> tuple[str, str]:
    """(column list, select list) copying every concrete column of ``model`` from
    ``source_alias``; an auto-increment key is left to the sequence, a UUID key drawn anew."""
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and isinstance(field, AutoField | BigAutoField):
            continue
        columns.append(_quoted(field.column))
        if field.column in overrides:
            values.append(overrides[field.column])
        elif field.primary_key and isinstance(field, UUIDField):
            values.append("gen_random_uuid()")
        else:
            values.append(f"{source_alias}.{_quoted(field.column)}")
    return ", ".join(columns), ", ".join(values)


def clone_orders(template: Order, count: int, *, overrides: dict[str, str] | None = None) -> int:
    """Copy ``template`` (and its rows in the otc app's child tables) ``count`` times in SQL.

    ``overrides`` maps an order column to an SQL expression over ``t`` (the template row) and
    ``n.g`` (1..count); ``created_at`` defaults to one second older per copy so the copies have
    a stable newest-first order. PostgreSQL only (``gen_random_uuid``)."""
    if count <= 0:
        return 0
    overrides = {
        "created_at": "t.created_at - n.g * interval '1 second'",
        "updated_at": "t.updated_at - n.g * interval '1 second'",
        **(overrides or {}),
        Order._meta.pk.column: "n.id",
    }
    table = _quoted(Order._meta.db_table)
    pk = _quoted(Order._meta.pk.column)
    columns, values = _copy_columns(Order, overrides, source_alias="t")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_new_orders ON COMMIT DROP AS "
            "SELECT gen_random_uuid() AS id, g FROM generate_series(1, %s) AS g",
            [count],
        )
        cursor.execute(
            f"INSERT INTO {table} ({columns}) "  # noqa: S608 - names come from the model
            f"SELECT {values} FROM {table} t, bench_new_orders n WHERE t.{pk} = %s",
            [template.pk],
        )
        for model, order_column in _child_tables():
            child = _quoted(model._meta.db_table)
            columns, values = _copy_columns(model, {order_column: "n.id"}, source_alias="c")
            cursor.execute(
                f"INSERT INTO {child} ({columns}) "  # noqa: S608 - names come from the model
                f"SELECT {values} FROM {child} c, bench_new_orders n "
                f"WHERE c.{_quoted(order_column)} = %s",
                [template.pk],
            )
        _clone_events(cursor, template)
    return count


# Where an order's event shows the fields a clone changes, per kind (its id and its times).
_EVENT_FIELDS = {
    "otc": {
        "id": "id",
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "ttlExpiresAt": "ttl_expires_at",
    },
    "market": {
        "id": "id",
        "created_at": "created_at",
        "updated_at": "updated_at",
        "quote_expires_at": "ttl_expires_at",
    },
}


def _clone_events(cursor, template: Order) -> None:
    """The template's outbox events, copied for every clone in ``bench_new_orders`` with the
    clone's id and times, as the desk would have written them (an order's last event is what
    the quote sweep derives its expiry event from)."""
    from otc.representations import iso_ms_sql
    from otc.webhooks.models import Event

    fields = _EVENT_FIELDS[template.kind]
    shown = ", ".join(
        f"'{key}', " + ("o.id::text" if column == "id" else iso_ms_sql(f"o.{_quoted(column)}"))
        for key, column in fields.items()
    )
    events = _quoted(Event._meta.db_table)
    orders = _quoted(Order._meta.db_table)
    cursor.execute(
        f"INSERT INTO {events} (id, customer_id, type, order_id, data, created_at, txid) "  # noqa: S608
        f"SELECT gen_random_uuid(), e.customer_id, e.type, o.id, "
        f"e.data || jsonb_build_object({shown}), e.created_at, e.txid "
        f"FROM {events} e, bench_new_orders n JOIN {orders} o ON o.id = n.id "
        "WHERE e.order_id = %s",
        [template.pk],
    )
