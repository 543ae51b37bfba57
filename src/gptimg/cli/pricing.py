"""What a submit costs and what the account has: two free reads, asked at once."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from gptimg.image_tool import DEFAULT_SUBMIT_COST

if TYPE_CHECKING:
    from gptimg.gateway import GatewayClient


def read_cost_and_balance(client: GatewayClient) -> tuple[float, float | None]:
    """The submit's price and the spendable balance (``None`` unless the answer says how much can be spent)."""
    from gptimg.balance import spendable_credits

    cost, me = read_cost_and_account(client)
    return cost, spendable_credits(me)


def read_cost_and_account(client: GatewayClient) -> tuple[float, dict[str, Any]]:
    """The submit's price and the account, both free reads, asked at once: one round trip, not two.

    Failures come out as they did when the two were asked one after the other: the
    price's first (``submit_cost`` falls back to the default on a gateway error, so
    that is only ever a bug), then the balance's. A Ctrl-C does not wait for the price.
    """
    box: list[Any] = []

    def read_cost() -> None:
        try:
            box.append(client.submit_cost(DEFAULT_SUBMIT_COST))
        except BaseException as exc:  # handed to the main thread below
            box.append(exc)

    reader = threading.Thread(target=read_cost, name="gptimg-cost", daemon=True)
    reader.start()
    try:
        me = client.me()
    except Exception:
        reader.join()
        if box and isinstance(box[0], BaseException):
            raise box[0] from None
        raise
    reader.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0], me if isinstance(me, dict) else {}
