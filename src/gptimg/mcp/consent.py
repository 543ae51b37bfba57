"""Who said yes to a spend: the user through MCP elicitation, or an allowance they wrote into their config.

An MCP tool call comes from a model, not from the person who pays, so the
model's call is never consent by itself. When the client can ask its user
(elicitation) the server asks, showing the prompt, the options, the price and
the balance; decline, cancel, an unusable answer or a failed request spend
nothing. When it cannot ask, the server spends only under ``--allow-spend
MAX_CREDITS``, which the user wrote into their own MCP config; that figure also
caps everything this server process spends, whether or not the user was asked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from gptimg import errors

NO_ELICITATION_HINT = (
    "Nothing was spent. This MCP client cannot ask its user to confirm a spend, so the user must allow it "
    'in their MCP config: add "--allow-spend", "MAX_CREDITS" to the gptimg server\'s args (a cap for the session).'
)


class SpendConsent(BaseModel):
    """The form the user sees: one explicit box, unticked unless they tick it."""

    confirm: bool = Field(
        default=False,
        title="Spend the credits",
        description="Tick to generate the image(s) and spend the credits shown above.",
    )


@dataclass(frozen=True)
class Offer:
    """What the user is asked to pay for."""

    prompt: str
    style: str | None
    size: str
    n: int
    references: tuple[str, ...]
    cost: float
    balance: float | None
    account: str | None
    sandbox: bool

    def message(self) -> str:
        """The elicitation text: everything a person needs to say yes or no, in plain lines."""
        lines = [
            f"Generate {self.n} image{'s' if self.n != 1 else ''} with gpt-image-2 for {self.cost:g} credits?",
            "",
            f"Prompt: {printable(self.prompt)}",
            f"Style: {self.style or '(none)'}",
            f"Size: {self.size}",
            f"Images: {self.n}",
        ]
        if self.references:
            lines.append("References: " + ", ".join(printable(ref, 200) for ref in self.references))
        lines.append(f"Price: {self.cost:g} credits")
        if self.balance is not None:
            lines.append(f"Balance: {self.balance:g} credits ({self.balance - self.cost:g} after)")
        if self.account:
            lines.append(f"Account: {printable(self.account, 200)}")
        if self.sandbox:
            lines.append("Gateway: local sandbox (test credits, nothing real)")
        lines += ["", "Accept and tick the box to spend; decline or cancel to spend nothing."]
        return "\n".join(lines)


def printable(text: str, limit: int = 2000) -> str:
    """Text from the model, shown to the person: no control characters, bounded length."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


class SpendAllowance:
    """The session's cap (``--allow-spend``): reserve before a submit, settle or release after.

    Reservation and the check are one step under a lock, so concurrent calls can
    never together pass the cap: the second one sees the first one's reservation.
    A submit whose outcome is unknown keeps its reservation (it may have been charged).
    """

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self._committed = 0.0
        self._lock = threading.Lock()

    @property
    def spent(self) -> float:
        with self._lock:
            return self._committed

    def remaining(self) -> float | None:
        if self.limit is None:
            return None
        with self._lock:
            return max(0.0, self.limit - self._committed)

    def reserve(self, cost: float) -> float:
        """Hold ``cost`` against the cap, or refuse (nothing spent) when it would pass it."""
        with self._lock:
            if self.limit is not None and self._committed + cost > self.limit:
                left = max(0.0, self.limit - self._committed)
                raise errors.ConfirmationRequired(
                    f"This needs {cost:g} credits and the spending allowance has {left:g} left "
                    f"(--allow-spend {self.limit:g} for this session). Nothing was submitted.",
                    hint="Nothing was spent. The user can raise --allow-spend in their MCP config and restart "
                    "the server.",
                )
            self._committed += cost
        return cost

    def settle(self, reserved: float, charged: float | None) -> None:
        """The submit happened: count what the gateway says it charged (the reservation if it did not say)."""
        if charged is None or charged < 0:
            return
        with self._lock:
            self._committed += charged - reserved

    def release(self, reserved: float) -> None:
        """The submit certainly did not happen: give the reservation back."""
        with self._lock:
            self._committed -= reserved


def can_elicit(ctx: Any) -> bool:
    """Whether the connected client declared the elicitation capability."""
    try:
        capabilities = ctx.client_capabilities
    except ValueError:  # no request context (not reachable from a tool call)
        return False
    return capabilities is not None and getattr(capabilities, "elicitation", None) is not None


async def ask_user(ctx: Any, offer: Offer) -> None:
    """Return only when the user said yes to this offer; raise (nothing spent) otherwise."""
    try:
        answer = await ctx.elicit(offer.message(), SpendConsent)
    except Exception as exc:  # the client failed or answered with something unusable: that is not a yes
        raise errors.ConfirmationRequired(
            f"The confirmation request failed ({type(exc).__name__}); nothing was submitted.",
            hint="Nothing was spent. Try again; the user must accept the spend for it to happen.",
        ) from None
    if answer.action == "accept" and answer.data.confirm:
        return
    if answer.action == "accept":
        raise errors.Declined("The user accepted the form without ticking the box; nothing was spent.")
    verb = "cancelled" if answer.action == "cancel" else "declined"
    raise errors.Declined(f"The user {verb} the spend; nothing was spent.")


async def obtain_consent(ctx: Any, offer: Offer, allowance: SpendAllowance) -> float:
    """Reserve the price against the cap, then ask (or rely on the allowance); returns the reservation.

    The cap is checked first so nobody is asked to approve a spend that would be
    refused anyway; the reservation is held while they decide, so calls running at
    the same moment cannot pass the cap together.
    """
    elicit = can_elicit(ctx)
    if not elicit and allowance.limit is None:
        raise errors.ConfirmationRequired(
            f"Refusing to spend {offer.cost:g} credits: this MCP client cannot ask its user to confirm, and the "
            "server was started without --allow-spend.",
            hint=NO_ELICITATION_HINT,
        )
    reserved = allowance.reserve(offer.cost)
    if elicit:
        try:
            await ask_user(ctx, offer)
        except BaseException:
            allowance.release(reserved)
            raise
    return reserved
