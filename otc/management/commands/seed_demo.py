"""Idempotently create the demo desk: the treasury, customers acme and globex with funded
accounts and wallets, their portal users and an operator. API keys are minted afresh on
every run (secrets are never stored, so they cannot be shown again)."""

import hashlib
import json
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import money
from accounts.ledger import deposit
from accounts.models import (
    ALL_SCOPES,
    SCOPE_READ,
    SCOPE_WRITE,
    Customer,
    CustomerMembership,
    FiatAccount,
    KycStatus,
)
from accounts.services import api_key_create, fiat_account_create
from otc.reference import reference_data_ensure
from wallets.models import Network, Wallet
from wallets.services import wallet_create

DEMO_PASSWORD = "demo-pass-2026"
OPERATOR = {"username": "operator", "password": "operator-pass-2026"}
SUPERVISOR = {"username": "supervisor", "password": "supervisor-pass-2026"}
CUSTOMERS = {
    "acme": "Acme Trading GmbH",
    "globex": "Globex Payments BV",
    "initech": "Initech Treasury Ltd",
}
KYC = {"initech": KycStatus.PENDING}


def evm_address(seed: str) -> str:
    return "0x" + hashlib.sha256(seed.encode()).hexdigest()[:40]


class Command(BaseCommand):
    help = "Create (or refresh) demo data; --json prints what a tester needs as one object."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the demo data as JSON.")

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            data = self.seed()
        if options["json"]:
            self.stdout.write(json.dumps(data))
        else:
            self.stdout.write(json.dumps(data, indent=2))

    # -- helpers ---------------------------------------------------------------------------
    def account(self, customer, label, *, currency=money.EUR, balance=None, **flags):
        existing = FiatAccount.objects.filter(customer=customer, label=label).first()
        return existing or fiat_account_create(
            customer=customer, label=label, currency=currency, opening_balance=balance, **flags
        )

    def wallet(self, customer, label, *, network, address, balance=None, is_treasury=False):
        existing = Wallet.objects.filter(customer=customer, label=label).first()
        if existing:
            return existing
        wallet = wallet_create(
            customer=customer,
            label=label,
            network=network,
            usdc_address=address,
            is_treasury=is_treasury,
        )
        if balance:
            deposit(wallet.ledger_account, balance, description=f"Opening balance of {label}")
        return wallet

    def user(self, username, password, *, staff=False):
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = staff
        user.set_password(password)
        user.save()
        return user

    # -- the demo desk ---------------------------------------------------------------------
    def seed(self) -> dict:
        reference_data_ensure()
        desk, _ = Customer.objects.get_or_create(
            slug="desk", defaults={"name": "The Desk (treasury)", "is_desk": True}
        )
        self.account(desk, "Treasury EUR", balance=Decimal("5000000.00"), is_treasury=True)
        self.wallet(
            desk,
            "Treasury USDC",
            network=Network.POLYGON,
            address=evm_address("desk-treasury"),
            balance=Decimal("5000000.000000"),
            is_treasury=True,
        )

        result: dict = {"customers": {}}
        for slug, name in CUSTOMERS.items():
            customer, _ = Customer.objects.get_or_create(slug=slug, defaults={"name": name})
            # acme and globex are onboarded; initech's KYC is still pending (it cannot trade).
            customer.kyc_status = KYC.get(slug, KycStatus.VERIFIED)
            customer.save(update_fields=["kyc_status"])
            accounts = {
                "eurMaster": self.account(
                    customer, "EUR master account", is_master=True, balance=Decimal("250000.00")
                ),
                "eurSecondary": self.account(
                    customer, "EUR operations account", balance=Decimal("50000.00")
                ),
                "eurInactive": self.account(customer, "EUR closed account", is_active=False),
                "usd": self.account(
                    customer, "USD account", currency=money.USD, balance=Decimal("10000.00")
                ),
            }
            wallets = {
                "primary": self.wallet(
                    customer,
                    "Operations wallet",
                    network=Network.POLYGON,
                    address=evm_address(f"{slug}-primary"),
                    balance=Decimal("100000.000000"),
                ),
                "secondary": self.wallet(
                    customer,
                    "Reserve wallet",
                    network=Network.ETHEREUM,
                    address=evm_address(f"{slug}-secondary"),
                    balance=Decimal("25000.000000"),
                ),
                "noUsdc": self.wallet(
                    customer, "Wallet without USDC address", network=Network.SOLANA, address=""
                ),
            }
            username = f"{slug}-treasurer"
            user = self.user(username, DEMO_PASSWORD)
            CustomerMembership.objects.update_or_create(user=user, defaults={"customer": customer})
            _, read_key = api_key_create(customer=customer, scopes=[SCOPE_READ], name="demo read")
            _, write_key = api_key_create(
                customer=customer, scopes=[SCOPE_READ, SCOPE_WRITE], name="demo write"
            )
            _, all_key = api_key_create(
                customer=customer, scopes=list(ALL_SCOPES), name="demo all scopes"
            )
            result["customers"][slug] = {
                "id": str(customer.pk),
                # "all" (every scope: webhooks and market exchanges included) is an addition to
                # the contract's shape.
                "apiKeys": {"read": read_key, "write": write_key, "all": all_key},
                "accounts": {k: str(v.pk) for k, v in accounts.items()},
                "wallets": {k: str(v.pk) for k, v in wallets.items()},
                "user": {"username": username, "password": DEMO_PASSWORD},
            }

        for person, group in ((OPERATOR, "operators"), (SUPERVISOR, "supervisors")):
            staff = self.user(person["username"], person["password"], staff=True)
            group_row = Group.objects.filter(name=group).first()
            if group_row:
                staff.groups.add(group_row)
        result["operator"] = dict(OPERATOR)
        return result
