"""Actions on a customer that the desk's operators take outside the Django admin (whose own
log covers its edits): today, a supervisor changing a customer's KYC status with a note."""

import uuid

from django.db import transaction

from accounts.errors import error
from accounts.models import Customer, KycStatus

from .models import AuditEntry
from .services import Actor

KYC_AUDIT_ACTION = "customer.kyc_set"


def customer_kyc_set(*, customer_id: uuid.UUID, status: str, note: str, actor: Actor) -> Customer:
    """Set ``customer_id``'s KYC status (only ``verified`` may trade) and record who changed
    it, from what, to what and why on the audit trail, in one transaction."""
    note = (note or "").strip()
    if status not in KycStatus.values:
        raise error(
            "VALIDATION_ERROR",
            400,
            f"Unknown KYC status {status!r}.",
            status={"message": "Not a KYC status.", "validValues": list(KycStatus.values)},
        )
    if not note:
        raise error("NOTE_REQUIRED", 400, "A KYC change needs a note saying why.")
    with transaction.atomic():
        customer = (
            Customer.objects.select_for_update(no_key=True)
            .filter(pk=customer_id, is_desk=False)
            .first()
        )
        if customer is None:
            raise error("CUSTOMER_NOT_FOUND", 404, "No such customer.")
        previous = customer.kyc_status
        customer.kyc_status = status
        customer.save(update_fields=["kyc_status"])
        AuditEntry.objects.create(
            action=KYC_AUDIT_ACTION,
            subject=customer.slug,
            details={"customerId": str(customer.pk), "from": previous, "to": status, "note": note},
            actor_user=actor.user,
            actor=actor.label,
            channel=actor.channel,
        )
    return customer


def customer_kyc_history(customer: Customer) -> list[AuditEntry]:
    """The customer's KYC changes made through ``customer_kyc_set``, newest first."""
    return list(
        AuditEntry.objects.filter(
            action=KYC_AUDIT_ACTION, details__customerId=str(customer.pk)
        ).select_related("actor_user")
    )
