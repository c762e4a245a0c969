"""Reads of orders shared by the API, the portal and the operator console."""

import uuid

from django.db.models import QuerySet

from accounts.errors import error
from accounts.models import Customer

from .models import Order


def customer_orders(
    customer: Customer, *, status: str | None = None, side: str | None = None
) -> QuerySet[Order]:
    orders = Order.objects.filter(customer=customer)
    if status:
        orders = orders.filter(status=status)
    if side:
        orders = orders.filter(side=side)
    return orders.order_by("-created_at", "-id")


def order_page(
    *, customer: Customer, page: int, limit: int, status: str | None = None, side: str | None = None
) -> tuple[list[Order], int]:
    """One page of the customer's orders, newest first, and the total: two queries whatever
    the page size."""
    orders = customer_orders(customer, status=status, side=side)
    total = orders.count()
    start = (page - 1) * limit
    return list(orders[start : start + limit]), total


def order_get(*, customer: Customer, order_id: uuid.UUID) -> Order:
    order = Order.objects.filter(customer=customer, pk=order_id).first()
    if order is None:
        raise error("ORDER_NOT_FOUND", 404, "No such order.")
    return order
