"""Settlement: the money an order moves at the bank and the custodian, as recorded steps.

Each step is a ``ProviderTransfer`` row with the reference ``order:<id>:<step>``:

- ``debit``   a buy's EUR, customer account -> treasury account (the bank), after confirm;
- ``collect`` a sell's USDC, customer wallet -> treasury wallet (the custodian), after approval
  (in the ledger from the wallet's hold account: the confirm held it, the collect consumes it);
- ``deliver`` the destination, treasury -> customer, after approval (and collect);
- ``refund``  the collected source back, treasury -> customer (reject, fail, cancel).

A step runs in three moves, and no provider call is ever made inside a transaction:

1. a short transaction under the order's row lock decides the next step and writes its row
   (``pending``) — before any call;
2. the row is claimed (``sent``) and the provider is called with the reference; a provider
   that already did it answers with its first reference and moves nothing;
3. a short transaction under the order's lock posts the ledger entry, marks the row
   ``settled`` with the provider's reference and entry, and moves the order on.

A worker killed anywhere resumes from the rows: a ``pending`` or ``sent`` step is simply called
again with the same reference (``advance``; the beat task ``resume_settlement`` finds rows
left behind). When an order must fail or be refunded, open steps are settled first if the
provider did them (``lookup``) or voided (``cancelled``) if it did not, so money moves once.
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_fsm import can_proceed

from accounts.compiled import CompiledQuery, placeholder_uuid
from accounts.errors import InsufficientFunds, ProviderUnavailable
from accounts.ledger import hold_account, post_entry, transfer_legs
from accounts.models import FiatAccount, JournalEntry, LedgerAccount
from accounts.providers import ProviderRejected, fiat_rail
from accounts.selectors import treasury_fiat_account
from wallets.providers import custody
from wallets.selectors import treasury_wallet
from wallets.services import wallet_holding_account

from . import services
from .models import Kind, Order, ProviderTransfer, Status

logger = logging.getLogger(__name__)

Step = ProviderTransfer.Step
State = ProviderTransfer.State
OPEN = (State.PENDING, State.SENT)
MAX_STEPS = 8  # more than any order needs (collect, deliver, refund)


class StepInFlight(ProviderUnavailable):
    """A provider call of this order is under way (or its worker died less than the provider
    timeout ago): its outcome is not known yet. Retryable."""

    message = "A provider call for this order is still under way; try again shortly."


class LedgerRefused(Exception):
    """The provider moved the money but the ledger refused the entry (the two disagree on a
    balance). The step stays ``sent`` with the reason; reconciliation reports it."""


def checkpoint(name: str) -> None:
    """A named point between two moves of a step (``planned``, ``sent``, ``called``,
    ``settled``). Does nothing; the crash tests make the process die here."""


def reference_for(order: Order, step: str) -> str:
    return f"order:{order.pk}:{step}"


def _call_timeout() -> timedelta:
    return timedelta(seconds=settings.OTC_PROVIDER_CALL_TIMEOUT_SECONDS)


def in_real_transaction() -> bool:
    """True inside a transaction the caller opened (a test case's wrapper does not count):
    then a provider call must wait for the commit."""
    connection = transaction.get_connection()
    return connection.in_atomic_block and any(
        not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks
    )


# --- the rows --------------------------------------------------------------------------------


def _ends(resource) -> dict:
    return {"account": resource} if isinstance(resource, FiatAccount) else {"wallet": resource}


# An order's step by name (one row at most: its reference is unique), compiled once.
_STEP_OF_ORDER = CompiledQuery(
    lambda order_id, step: ProviderTransfer.objects.filter(order_id=order_id, step=step),
    order_id=placeholder_uuid(),
    step="placeholder-step",
)


def _plan(order: Order, step: str) -> ProviderTransfer:
    """The row of ``step`` of ``order`` (the order's row is locked by the caller), written
    now if it does not exist yet."""
    existing = _STEP_OF_ORDER.first(order_id=order.pk, step=step)
    if existing is not None:
        return existing
    spec = services.SIDES[order.side]
    network = order.wallet.network
    if step == Step.DEBIT:
        source, destination = order.fiat_account, treasury_fiat_account(order.source_currency)
        asset, amount = order.source_currency, order.source_amount
    elif step == Step.COLLECT:
        source, destination = order.wallet, treasury_wallet(network)
        asset, amount = order.source_currency, order.source_amount
    elif step == Step.DELIVER:
        destination = (
            order.wallet if spec.destination_kind == services.WALLET else order.fiat_account
        )
        source = services._treasury_resource(
            spec.destination_kind, order.destination_currency, network
        )
        asset, amount = order.destination_currency, order.final_destination_amount
    else:
        raise ValueError(f"plan {step} with refund_start")
    return _create(order, step, source, destination, asset, amount)


def booked_step_create(
    order: Order, step: str, *, source, destination, asset: str, amount, entry: JournalEntry
) -> ProviderTransfer:
    """A step whose ledger entry is already posted (a market exchange's books move at once,
    under its row lock, in the caller's transaction): written ``pending`` with that entry; the
    provider is called after commit (``kick``) and the row settles with the entry as is."""
    return _create(order, step, source, destination, asset, amount, journal_entry=entry)


def _create(
    order, step, source, destination, asset, amount, *, journal_entry=None
) -> ProviderTransfer:
    provider = (
        ProviderTransfer.Provider.BANK
        if isinstance(destination, FiatAccount)
        else ProviderTransfer.Provider.CUSTODY
    )
    ends = {}
    for role, resource in (("source", source), ("destination", destination)):
        for kind, value in _ends(resource).items():
            ends[f"{role}_{kind}"] = value
    transfer = ProviderTransfer.objects.create(
        order=order,
        step=step,
        reference=reference_for(order, step),
        provider=provider,
        asset=asset,
        amount=amount,
        journal_entry=journal_entry,
        **ends,
    )
    checkpoint("planned")
    return transfer


def _provider(transfer: ProviderTransfer):
    return fiat_rail() if transfer.provider == ProviderTransfer.Provider.BANK else custody()


def _ledger_of(resource, asset: str) -> LedgerAccount:
    if isinstance(resource, FiatAccount):
        return resource.ledger_account
    return wallet_holding_account(resource, asset)


def _ledger_collected_at_confirm(order: Order) -> bool:
    """A buy's source left the customer in the ledger at confirm and has not come back."""
    entries = JournalEntry.objects.filter(reference_id=order.pk)
    return (
        entries.filter(kind=JournalEntry.Kind.ORDER_DEBIT).exists()
        and not entries.filter(kind=JournalEntry.Kind.REFUND).exists()
    )


# --- what each step writes to the ledger and does to the order -------------------------------

# How a refund's ledger entry names what ended the order (the step's reference is on its row).
REFUND_WHY = {
    Status.REJECTED: "rejected",
    Status.FAILED: "failed",
    Status.CANCELLED: "cancelled",
}


def _ledger_entry(order: Order, transfer: ProviderTransfer) -> JournalEntry:
    step, asset = transfer.step, transfer.asset
    if step == Step.DEBIT:
        legs = transfer_legs(
            services.order_clearing_account(order),
            _ledger_of(transfer.destination, asset),
            order.source_amount - order.fee_total,
        )
        kind, text = JournalEntry.Kind.DEBIT_SETTLED, f"{asset} settled into the treasury"
    elif step == Step.COLLECT:
        legs = services._collect_legs(
            order, _ledger_of(transfer.destination, asset), _collect_source(order)
        )
        if order.source_held:
            order.source_held = 0  # the hold is consumed by this entry
            order.save(update_fields=["source_held", "updated_at"])
        kind, text = JournalEntry.Kind.ORDER_SETTLEMENT, f"{asset} collected into the treasury"
    elif step == Step.DELIVER:
        legs = transfer_legs(
            _ledger_of(transfer.source, asset), order.destination_ledger_account, transfer.amount
        )
        kind, text = JournalEntry.Kind.ORDER_SETTLEMENT, f"{asset} delivered"
    else:
        legs = services._refund_legs(order, _ledger_of(transfer.source, asset))
        why = REFUND_WHY.get(order.status, order.status)
        return post_entry(
            legs=legs,
            kind=JournalEntry.Kind.REFUND,
            reference_id=order.pk,
            description=f"Order {order.pk} {why}: source refunded",
        )
    return post_entry(
        legs=legs, kind=kind, reference_id=order.pk, description=f"Order {order.pk}: {text}"
    )


def _collect_source(order: Order) -> LedgerAccount:
    """Where a sell's collect takes the USDC from in the ledger: the wallet's hold account when
    the confirm held it (every sell confirmed since holds exist), else the wallet's account."""
    if order.source_held:
        return hold_account(order.source_ledger_account)
    return order.source_ledger_account


def _after_settled(order: Order, transfer: ProviderTransfer) -> None:
    if transfer.step == Step.DEBIT and order.status == Status.DEBIT_PENDING:
        services._transition(
            order,
            order.settle_debit,
            services.Actor.system("fiat-rail"),
            reason="The bank settled the debit.",
        )
    elif transfer.step == Step.DELIVER and order.status == Status.APPROVED:
        order.completed_at = timezone.now()
        services._transition(
            order, order.complete, services.Actor.system("settlement"), reason="Settled."
        )


def _precheck(order: Order, transfer: ProviderTransfer) -> None:
    """The ledger must hold what the step takes out, before the provider is asked: a step the
    books cannot record is never sent. Raises ``InsufficientFunds``."""
    if transfer.journal_entry_id is not None:
        return  # booked before the call (a market exchange): the books already hold it
    if transfer.step == Step.DEBIT:
        return  # the source waits in clearing
    if transfer.step == Step.COLLECT:
        account, needed = _collect_source(order), transfer.amount
    elif transfer.step == Step.DELIVER:
        account, needed = _ledger_of(transfer.source, transfer.asset), transfer.amount
    else:
        account = _ledger_of(transfer.source, transfer.asset)
        needed = order.source_amount - order.fee_total
    account.refresh_from_db(fields=["balance"])
    if account.balance < needed:
        raise InsufficientFunds(account_code=account.code)


# --- running one step --------------------------------------------------------------------------


def _lock_order(order_id) -> Order:
    order = services.order_locked(order_id)
    if order is None:
        raise Order.DoesNotExist(order_id)
    return order


def _call(transfer: ProviderTransfer) -> str | None:
    """Claim the row and call the provider (no transaction is open). Returns the provider's
    reference, or None when the row was settled or voided meanwhile or the provider refused
    (then the row is ``failed``). ``ProviderUnavailable`` puts it back to ``pending``."""
    now = timezone.now()
    claimed = ProviderTransfer.objects.filter(pk=transfer.pk, state__in=OPEN).update(
        state=State.SENT, attempts=F("attempts") + 1, sent_at=now, updated_at=now
    )
    if not claimed:
        return None
    checkpoint("sent")
    source, destination = transfer.source, transfer.destination
    arguments = {
        "source": source,
        "destination": destination,
        "amount": transfer.amount,
        "reference": transfer.reference,
    }
    if transfer.provider == ProviderTransfer.Provider.CUSTODY:
        arguments["asset"] = transfer.asset
    try:
        provider_reference = _provider(transfer).transfer(**arguments)
    except ProviderUnavailable as exc:
        ProviderTransfer.objects.filter(pk=transfer.pk, state=State.SENT).update(
            state=State.PENDING, last_error=exc.message, updated_at=timezone.now()
        )
        raise
    except ProviderRejected as exc:
        ProviderTransfer.objects.filter(pk=transfer.pk, state=State.SENT).update(
            state=State.FAILED, last_error=str(exc), updated_at=timezone.now()
        )
        return None
    checkpoint("called")
    return provider_reference


# A step locked with the accounts and wallets at both ends (the ledger entry books to their
# ledger accounts), compiled once.
_LOCKED_STEP = CompiledQuery(
    lambda transfer_id: (
        ProviderTransfer.objects.select_for_update(of=("self",))
        .select_related(
            "source_account__ledger_account",
            "source_wallet",
            "destination_account__ledger_account",
            "destination_wallet",
        )
        .filter(pk=transfer_id)
    ),
    transfer_id=placeholder_uuid(),
)


def _finish(step: ProviderTransfer, provider_reference: str) -> tuple[str, Order | None]:
    """The provider did the step: ledger entry, row ``settled``, order moved on, together.
    Returns the step's state after it and the order as it was left (locked until commit)."""
    transfer_id = step.pk
    try:
        with transaction.atomic():
            order = _lock_order(step.order_id)
            transfer = _LOCKED_STEP.first(transfer_id=transfer_id)
            if transfer is None:
                raise ProviderTransfer.DoesNotExist(transfer_id)
            if transfer.state == State.SETTLED:
                return transfer.state, order
            if transfer.state not in OPEN:
                # Voided or refused here, done at the provider: only reconciliation and an
                # operator can sort this out. Keep the provider's word on the row.
                transfer.provider_reference = provider_reference
                transfer.last_error = f"The provider did this {transfer.state} step."
                transfer.save(update_fields=["provider_reference", "last_error", "updated_at"])
                logger.error("provider did voided step %s", transfer.reference)
                return transfer.state, order
            entry = transfer.journal_entry or _ledger_entry(order, transfer)
            transfer.state = State.SETTLED
            transfer.provider_reference = provider_reference
            transfer.journal_entry = entry
            transfer.settled_at = timezone.now()
            transfer.last_error = ""
            transfer.save(
                update_fields=[
                    "state",
                    "provider_reference",
                    "journal_entry",
                    "settled_at",
                    "last_error",
                    "updated_at",
                ]
            )
            _after_settled(order, transfer)
    except InsufficientFunds:
        ProviderTransfer.objects.filter(pk=transfer_id).update(
            last_error="The provider moved the money but the ledger refused the entry "
            "(insufficient funds in the books).",
            provider_reference=provider_reference,
            updated_at=timezone.now(),
        )
        logger.error("ledger refused settled provider transfer %s", transfer_id)
        raise LedgerRefused(str(transfer_id)) from None
    checkpoint("settled")
    return State.SETTLED, order


def _resolve(transfer: ProviderTransfer) -> str:
    """Bring an open step to a final state without doing it: settled if the provider did it,
    else voided. Returns the state. Raises ``StepInFlight`` while a call may still land."""
    transfer.refresh_from_db()
    if transfer.state == State.PENDING:
        voided = ProviderTransfer.objects.filter(pk=transfer.pk, state=State.PENDING).update(
            state=State.CANCELLED,
            last_error="Voided before it was sent.",
            updated_at=timezone.now(),
        )
        if voided:
            return State.CANCELLED
        transfer.refresh_from_db()
    if transfer.state == State.SENT:
        record = _provider(transfer).lookup(transfer.reference)
        if record is not None:
            _finish(transfer, record.provider_reference)
        elif transfer.sent_at and transfer.sent_at > timezone.now() - _call_timeout():
            raise StepInFlight()
        else:
            ProviderTransfer.objects.filter(
                pk=transfer.pk, state=State.SENT, sent_at=transfer.sent_at
            ).update(
                state=State.CANCELLED,
                last_error="Voided: the provider has no record of it.",
                updated_at=timezone.now(),
            )
        transfer.refresh_from_db()
    return transfer.state


def _next_transfer(order_id) -> tuple[Order | None, ProviderTransfer | None]:
    """Under the order's lock: the order (None if there is none) and the step it needs now,
    written if new."""
    with transaction.atomic():
        try:
            order = _lock_order(order_id)
        except Order.DoesNotExist:
            return None, None
        return order, _step_needed(order)


def _step_needed(order: Order) -> ProviderTransfer | None:
    if order.kind == Kind.MARKET:
        # Booked at accept: the provider steps follow in the order they were written.
        return (
            ProviderTransfer.objects.filter(order=order, state__in=OPEN)
            .order_by("created_at")
            .first()
        )
    spec = services.SIDES[order.side]
    if order.status == Status.DEBIT_PENDING and spec.collects_at_confirm:
        transfer = _plan(order, Step.DEBIT)
        return None if transfer.state == State.SETTLED else transfer
    if order.status == Status.APPROVED:
        if not spec.collects_at_confirm:
            collect = _plan(order, Step.COLLECT)
            if collect.state != State.SETTLED:
                return collect
        return _plan(order, Step.DELIVER)
    return ProviderTransfer.objects.filter(order=order, step=Step.REFUND, state__in=OPEN).first()


def _refund_not_needed(transfer: ProviderTransfer) -> None:
    """The source never reached the treasury: void the refund and, for a buy, give the EUR
    back from clearing in the ledger alone (the bank never moved it)."""
    with transaction.atomic():
        order = _lock_order(transfer.order_id)
        refund = ProviderTransfer.objects.select_for_update().get(pk=transfer.pk)
        if refund.state not in OPEN:
            return
        refund.state = State.CANCELLED
        refund.last_error = "Not needed: the source never reached the treasury."
        refund.save(update_fields=["state", "last_error", "updated_at"])
        _give_back_uncollected(order, REFUND_WHY.get(order.status, order.status))


def _give_back_uncollected(order: Order, why: str) -> None:
    """The source never reached the treasury: a buy's EUR comes back from clearing, a sell's
    hold is released, in the ledger alone (the provider never moved it). Idempotent."""
    if services.SIDES[order.side].collects_at_confirm and _ledger_collected_at_confirm(order):
        services._refund_collected(
            order,
            held_in=services.order_clearing_account(order),
            description=f"Order {order.pk}: source refunded from clearing (the bank never "
            "moved it)",
        )
    services.source_hold_release(order, why=why)


def _collection(order: Order) -> ProviderTransfer | None:
    step = Step.DEBIT if services.SIDES[order.side].collects_at_confirm else Step.COLLECT
    return ProviderTransfer.objects.filter(order=order, step=step).first()


def _execute(order: Order, transfer: ProviderTransfer) -> tuple[str | None, Order | None]:
    """Run one step of ``order`` (as read under its lock when the step was chosen). Returns
    the step's state and the order as the step left it, when known without reading them
    again: (None, None) otherwise."""
    if transfer.step == Step.REFUND:
        collection = _collection(order)
        state = _resolve(collection) if collection and collection.is_open else None
        if (state or (collection.state if collection else None)) != State.SETTLED:
            _refund_not_needed(transfer)
            return None, None
    _precheck(order, transfer)
    provider_reference = _call(transfer)
    if provider_reference is None:
        return None, None
    return _finish(transfer, provider_reference)


# What a customer reads when an order fails (its body, the portal, webhooks): plain words per
# step. The provider's own text and the ledger's account codes stay on the step's row
# (``last_error``), which only the desk sees.
STEP_WHAT = {
    Step.DEBIT: "the debit of the source account",
    Step.COLLECT: "the transfer from the source wallet",
    Step.DELIVER: "the payout to the destination",
    Step.REFUND: "the refund",
}
PROVIDER_NAME = {
    ProviderTransfer.Provider.BANK: "bank",
    ProviderTransfer.Provider.CUSTODY: "custodian",
}


def failure_reason(
    transfer: ProviderTransfer, *, funds: bool = False, refused: bool = False
) -> str:
    """The customer-facing reason an order failed at ``transfer``'s step."""
    what = STEP_WHAT.get(transfer.step, "a settlement step")
    if funds:
        return f"Settlement impossible: insufficient funds for {what}."
    if refused:
        # Only the kind of refusal is passed on, never the provider's own words.
        funds_short = "insufficient funds" in (transfer.last_error or "").lower()
        return f"Settlement impossible: the {PROVIDER_NAME[transfer.provider]} refused {what}" + (
            " (insufficient funds)." if funds_short else "."
        )
    return f"Settlement impossible: {what} could not be carried out."


def advance(order_id) -> Order | None:
    """Run the order's settlement from wherever it stands until it waits for a person
    (approval) or is done. Raises ``ProviderUnavailable`` (retry later); an order that can no
    longer settle fails with its reason and its collected source is refunded."""
    order = None
    for _ in range(MAX_STEPS):
        order, transfer = _next_transfer(order_id)
        if transfer is None:
            return order  # as read under its lock: nothing to do (or no such order)
        if transfer.state in (State.FAILED, State.CANCELLED):
            _fail(order_id, failure_reason(transfer, refused=transfer.state == State.FAILED))
            continue
        try:
            state, after = _execute(order, transfer)
        except InsufficientFunds as exc:
            if transfer.step == Step.REFUND:
                raise StepInFlight("The treasury cannot fund the refund yet.") from None
            logger.warning("%s: insufficient funds on %s", transfer.reference, exc.account_code)
            _fail(order_id, failure_reason(transfer, funds=True))
            continue
        if state == State.SETTLED and after is not None and _waits_for_a_person(after):
            # The step left the order where only a person moves it on (whoever does kicks
            # settlement again): no need to lock it once more to find nothing to do.
            return after
        if state is None:
            transfer.refresh_from_db(fields=["state", "last_error"])
            state = transfer.state
        if state == State.FAILED and transfer.step != Step.REFUND:
            _fail(order_id, failure_reason(transfer, refused=True))
        elif state == State.FAILED:
            logger.error("refund %s refused: %s", transfer.reference, transfer.last_error)
            break
    return Order.objects.filter(pk=order_id).first()


def _waits_for_a_person(order: Order) -> bool:
    """No settlement step is due: a buy whose debit settled waits for approval, a settled
    order is complete. (A market exchange's steps follow one another: never.)"""
    return order.kind != Kind.MARKET and order.status in (
        Status.PENDING_APPROVAL,
        Status.COMPLETED,
    )


def kick(order_id) -> None:
    """Move the order's settlement on now if no transaction is open (else at commit), and
    leave it to a task when a provider is down."""
    from .tasks import advance_settlement

    if in_real_transaction():
        transaction.on_commit(lambda: kick(order_id))
        return
    try:
        advance(order_id)
    except ProviderUnavailable:
        advance_settlement.apply_async((str(order_id),), countdown=5)
    except LedgerRefused:
        logger.exception("settlement of %s is stuck", order_id)


# --- refunds and failure -----------------------------------------------------------------------


def refund_start(order: Order, why: str = "ended") -> ProviderTransfer | None:
    """Start giving back an order's collected source. Call it inside the transaction that
    moves the order to its final state (rejected, failed, cancelled), with the order's row
    locked; no provider is called here. Where the source sits decides:

    - it reached the treasury (its debit/collect step settled, or was sent and may have):
      a ``refund`` step is written and runs after commit (the worker first settles or voids
      a collection whose outcome is unknown);
    - it never left the customer at the provider: a pending collection is voided, a buy's
      EUR comes back from clearing and a sell's hold is released, in the ledger at once.

    Returns the refund step, if one is needed. Safe to call twice."""
    existing = ProviderTransfer.objects.filter(order=order, step=Step.REFUND).first()
    if existing is not None:
        return existing
    collection = _collection(order)
    if collection is not None and collection.state == State.PENDING:
        ProviderTransfer.objects.filter(pk=collection.pk, state=State.PENDING).update(
            state=State.CANCELLED,
            last_error="Voided: the order ended first.",
            updated_at=timezone.now(),
        )
        collection.refresh_from_db()
    if collection is not None and collection.state in (State.SETTLED, State.SENT):
        refund = _create(
            order,
            Step.REFUND,
            collection.destination,
            collection.source,
            collection.asset,
            collection.amount,
        )
        transaction.on_commit(lambda: kick(order.pk))
        return refund
    _give_back_uncollected(order, why)
    return None


def _fail(order_id, reason: str) -> Order | None:
    order = Order.objects.filter(pk=order_id).first()
    if order is None or not can_proceed(order.fail):
        return order
    for transfer in ProviderTransfer.objects.filter(order=order, state__in=OPEN).exclude(
        step=Step.REFUND
    ):
        _resolve(transfer)  # a step the provider did is settled (it may complete the order)
    with transaction.atomic():
        order = _lock_order(order_id)
        if not can_proceed(order.fail):
            return order
        if ProviderTransfer.objects.filter(order=order, state__in=OPEN).exists():
            raise StepInFlight()
        refund_start(order, "failed")
        order.failure_reason = reason
        services._transition(order, order.fail, services.Actor.system("settlement"), reason=reason)
    logger.warning("order %s failed: %s", order.pk, reason)
    return order


def fail(order_id, reason: str) -> Order | None:
    """A failure the desk cannot recover from: open steps are settled or voided, the order
    fails, and a collected source is refunded from wherever it sits."""
    order = _fail(order_id, reason)
    if order is not None and order.status == Status.FAILED:
        kick(order_id)
        order.refresh_from_db()
    return order


def open_transfers_older_than(seconds: float) -> list[uuid.UUID]:
    """Orders with a step left ``pending`` or ``sent`` for ``seconds``: a worker died or a
    task was lost."""
    cutoff = timezone.now() - timedelta(seconds=seconds)
    return list(
        ProviderTransfer.objects.filter(state__in=OPEN, updated_at__lt=cutoff)
        .values_list("order_id", flat=True)
        .distinct()
    )
