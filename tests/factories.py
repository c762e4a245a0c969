"""Factories for every model. Accounts and wallets go through their services so that each
gets its ledger account, exactly as in production."""

import hashlib
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from accounts import money
from accounts.ledger import deposit
from accounts.models import SCOPE_READ, SCOPE_WRITE, Customer, CustomerMembership
from accounts.services import api_key_create, fiat_account_create
from wallets.models import Network
from wallets.services import wallet_create

PASSWORD = "correct-horse-battery"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"customer-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    kyc_status = "verified"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user-{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def evm_address(seed: str) -> str:
    return "0x" + hashlib.sha256(seed.encode()).hexdigest()[:40]


def make_account(customer, *, label="EUR account", balance="0", currency=money.EUR, **flags):
    return fiat_account_create(
        customer=customer,
        label=label,
        currency=currency,
        opening_balance=Decimal(balance) or None,
        **flags,
    )


def make_wallet(
    customer,
    *,
    label="Wallet",
    balance="0",
    network=Network.POLYGON,
    address: str | None = None,
    is_treasury=False,
):
    if address is None:
        address = evm_address(f"{customer.slug}-{label}")
    wallet = wallet_create(
        customer=customer,
        label=label,
        network=network,
        usdc_address=address,
        is_treasury=is_treasury,
    )
    if Decimal(balance):
        deposit(wallet.ledger_account, Decimal(balance), description="test funding")
    return wallet


def make_customer_user(customer, username: str | None = None):
    user = UserFactory(username=username or f"{customer.slug}-user")
    CustomerMembership.objects.create(user=user, customer=customer)
    return user


def make_key(customer, scopes=(SCOPE_READ, SCOPE_WRITE), live=False) -> str:
    return api_key_create(customer=customer, scopes=list(scopes), live=live)[1]


def order_entry_kinds(order_id) -> list[str]:
    """The kinds of the journal entries an order caused, oldest first."""
    from accounts.models import JournalEntry

    return list(
        JournalEntry.objects.filter(reference_id=order_id)
        .order_by("created_at", "id")
        .values_list("kind", flat=True)
    )


# A sell that ended without settling: its confirm held the USDC, its ending released it; no
# money left the wallet.
HELD_AND_RELEASED = ["hold", "hold_release"]
