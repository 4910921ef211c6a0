"""Functions exposed through the functions connector in tests (imported by module path from config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from bridgehead.connectors.base import CallContext, ToolError
from bridgehead.connectors.functions import tool

TICKETS: dict[int, dict[str, str]] = {}


class Quote(BaseModel):
    sku: str
    quantity: int
    total: float


@tool(read_only=True, idempotent=True, open_world=False)
def price_quote(sku: str, quantity: int = 1, currency: Literal["EUR", "USD"] = "EUR") -> Quote:
    """Quote a price for a Northwind part.

    Returns the total for the given quantity.
    """
    if quantity < 1:
        raise ToolError("quantity must be at least 1")
    return Quote(sku=sku, quantity=quantity, total=round(quantity * 12.5, 2))


@tool(name="open_ticket", title="Open a support ticket", destructive=False)
async def create_ticket(subject: str, priority: int, ctx: CallContext) -> dict[str, object]:
    """Open a support ticket in the helpdesk."""
    number = len(TICKETS) + 1
    TICKETS[number] = {"subject": subject}
    return {"ticket": number, "link": f"{ctx.base_url}/tickets/{number}", "priority": priority}


@tool(destructive=True, idempotent=True)
def close_ticket(number: int) -> str:
    """Close a ticket for good."""
    if number not in TICKETS:
        raise ToolError(f"no ticket {number}")
    del TICKETS[number]
    return f"closed {number}"


def not_a_tool() -> None:
    """Undecorated: never exposed."""
