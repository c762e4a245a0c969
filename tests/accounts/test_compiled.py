"""SQL compiled once: each call gets its own arguments' rows, the ORM's converters are applied,
and an argument that cannot be found in the compiled SQL is refused at compile time."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.authentication import api_key_active
from accounts.compiled import (
    CompiledQuery,
    CompiledValues,
    model_columns,
    model_instance,
    placeholder_uuid,
)
from accounts.models import SCOPE_READ, SCOPE_WRITE, ApiKey, Customer, FiatAccount
from tests import factories

pytestmark = pytest.mark.django_db


def scopes_of(built: list) -> CompiledValues:
    def build(customer_id):
        built.append(customer_id)
        return (
            ApiKey.objects.filter(customer_id=customer_id)
            .order_by("created_at")
            .values_list("prefix", "scopes")
        )

    return CompiledValues(build, customer_id=placeholder_uuid())


def test_each_call_runs_the_same_sql_with_its_own_arguments(acme, globex):
    built: list = []
    query = scopes_of(built)
    with CaptureQueriesContext(connection) as ctx:
        theirs = {
            world.customer.slug: query.rows(customer_id=world.customer.pk)
            for world in (acme, globex)
        }
    assert len(ctx.captured_queries) == 2
    assert built == [query.placeholders["customer_id"]], "compiled once, with the placeholder"
    for world in (acme, globex):
        expected = list(
            ApiKey.objects.filter(customer=world.customer)
            .order_by("created_at")
            .values_list("prefix", "scopes")
        )
        assert theirs[world.customer.slug] == expected
        assert isinstance(expected[0][1], list), "the JSON column is converted, as the ORM does"
    assert query.first(customer_id=placeholder_uuid()) is None


def test_an_argument_that_does_not_reach_the_sql_as_it_is_is_refused(db):
    query = CompiledValues(
        lambda name: Customer.objects.filter(name__icontains=name).values_list("pk"),
        name="placeholder-name",
    )
    with pytest.raises(ValueError, match="name does not reach the SQL"):
        query.rows(name="acme")


def test_a_row_read_by_hand_becomes_the_instance_the_orm_would_load(acme):
    key = ApiKey.objects.filter(customer=acme.customer).first()
    fields, columns = model_columns(ApiKey, "k")
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT {columns} FROM "accounts_apikey" k WHERE k.id = %s', [key.pk])
        loaded = model_instance(ApiKey, fields, cursor.fetchone())
    for name in fields:
        assert getattr(loaded, name) == getattr(key, name), name
    assert isinstance(loaded.scopes, list)


def test_api_key_active_finds_an_unrevoked_key_with_its_customer(acme):
    secret = factories.make_key(acme.customer, [SCOPE_READ])
    key = api_key_active(ApiKey.hash_secret(secret))
    assert key.customer == acme.customer and key.customer.name == acme.customer.name
    assert key.scopes == [SCOPE_READ]
    assert SCOPE_WRITE not in frozenset(key.scopes)
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=key.created_at)
    assert api_key_active(ApiKey.hash_secret(secret)) is None
    assert api_key_active(ApiKey.hash_secret("sk_test_unknown")) is None


def test_compiled_instances_are_the_orms_with_their_related_rows(acme, globex):
    built: list = []

    def build(customer_id):
        built.append(customer_id)
        return (
            FiatAccount.objects.select_for_update(of=("self",))
            .select_related("ledger_account", "customer")
            .filter(customer_id=customer_id)
            .order_by("label")
        )

    query = CompiledQuery(build, customer_id=placeholder_uuid())
    for world in (acme, globex, acme):
        with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
            accounts = query.all(customer_id=world.customer.pk)
            ledgers = [account.ledger_account for account in accounts]
            owners = {account.customer.name for account in accounts}
        assert len(ctx.captured_queries) == 1, "the related rows came with the accounts"
        assert "FOR UPDATE" in ctx.captured_queries[0]["sql"]
        expected = list(
            FiatAccount.objects.filter(customer=world.customer)
            .select_related("ledger_account")
            .order_by("label")
        )
        assert accounts == expected and len(accounts) > 1
        for got, want in zip(accounts, expected, strict=True):
            for field in FiatAccount._meta.concrete_fields:
                assert getattr(got, field.attname) == getattr(want, field.attname), field.name
        assert [ledger.balance for ledger in ledgers] == [
            account.ledger_account.balance for account in expected
        ]
        assert owners == {world.customer.name}
        assert not accounts[0]._state.adding and accounts[0]._state.db == "default"
    assert built == [query.placeholders["customer_id"]], "compiled once, with the placeholder"
    with transaction.atomic():
        assert query.first(customer_id=placeholder_uuid()) is None


def test_compiled_instances_refuse_annotations(acme):
    from django.db.models import Count

    query = CompiledQuery(
        lambda customer_id: Customer.objects.annotate(keys=Count("api_keys")).filter(
            pk=customer_id
        ),
        customer_id=placeholder_uuid(),
    )
    with pytest.raises(ValueError, match="without annotations"):
        query.all(customer_id=acme.customer.pk)
