"""The consent rules in-process: the cap under concurrency, and what counts as a yes."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from gptimg import errors

from .conftest import require_sdk

require_sdk()

import anyio  # noqa: E402

from gptimg.mcp.consent import Offer, SpendAllowance, obtain_consent  # noqa: E402

OFFER = Offer(prompt="a fox", style=None, size="1024x1024", n=1, references=(), cost=300, balance=1000,
              account="me@example.invalid", sandbox=False)


class FakeContext:
    """A tool context whose client may or may not elicit; ``answer`` is what the user does."""

    def __init__(self, elicits: bool, answer: Any = None) -> None:
        self.client_capabilities = SimpleNamespace(elicitation=object() if elicits else None)
        self.answer = answer
        self.asked: list[str] = []

    async def elicit(self, message: str, schema: Any) -> Any:
        self.asked.append(message)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def accepted(confirm: bool) -> Any:
    return SimpleNamespace(action="accept", data=SimpleNamespace(confirm=confirm))


def test_the_cap_holds_when_many_threads_reserve_at_once() -> None:
    allowance = SpendAllowance(1000)
    granted: list[float] = []
    start = threading.Barrier(40)

    def reserve() -> None:
        start.wait()
        try:
            granted.append(allowance.reserve(100))
        except errors.ConfirmationRequired:
            pass

    threads = [threading.Thread(target=reserve) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 10 and allowance.spent == 1000 and allowance.remaining() == 0


def test_release_and_settle_follow_what_the_gateway_did() -> None:
    allowance = SpendAllowance(900)
    first = allowance.reserve(300)
    allowance.release(first)  # refused by the gateway: not charged
    assert allowance.spent == 0
    second = allowance.reserve(300)
    allowance.settle(second, 250)  # charged less than announced
    assert allowance.spent == 250
    third = allowance.reserve(300)
    allowance.settle(third, None)  # the gateway did not say: the reservation stands
    assert allowance.spent == 550
    with pytest.raises(errors.ConfirmationRequired, match="350 left"):
        allowance.reserve(400)


@pytest.mark.parametrize(
    ("ctx", "limit", "expected"),
    [
        (FakeContext(elicits=False), None, errors.ConfirmationRequired),
        (FakeContext(elicits=True, answer=SimpleNamespace(action="decline")), None, errors.Declined),
        (FakeContext(elicits=True, answer=SimpleNamespace(action="cancel")), 1000, errors.Declined),
        (FakeContext(elicits=True, answer=accepted(False)), None, errors.Declined),
        (FakeContext(elicits=True, answer=ValueError("content does not match")), 1000, errors.ConfirmationRequired),
        (FakeContext(elicits=True, answer=accepted(True)), 299, errors.ConfirmationRequired),
    ],
    ids=["no elicitation, no allowance", "decline", "cancel", "unticked", "broken answer", "over the cap"],
)
def test_anything_but_an_explicit_yes_within_the_cap_spends_nothing(ctx: FakeContext, limit: Any, expected: type) -> None:
    allowance = SpendAllowance(limit)
    with pytest.raises(expected):
        anyio.run(obtain_consent, ctx, OFFER, allowance)
    assert allowance.spent == 0
    if limit is not None and limit < OFFER.cost:
        assert ctx.asked == [], "nobody is asked to approve a spend the cap refuses"


def test_a_yes_reserves_the_price_and_the_question_shows_what_is_paid_for() -> None:
    ctx = FakeContext(elicits=True, answer=accepted(True))
    offer = Offer(prompt="a fox\x1b[2J\x07 in snow", style="ghibli_anime", size="1536x1024", n=3,
                  references=("https://example.invalid/ref.png",), cost=300, balance=1000, account="me", sandbox=True)
    allowance = SpendAllowance(None)
    assert anyio.run(obtain_consent, ctx, offer, allowance) == 300
    assert allowance.spent == 300
    (question,) = ctx.asked
    for fact in ("ghibli_anime", "1536x1024", "Images: 3", "Price: 300 credits", "Balance: 1000 credits (700 after)",
                 "ref.png", "sandbox"):
        assert fact in question, fact
    assert "\x1b" not in question and "\x07" not in question and "a fox" in question


def test_an_allowance_alone_is_consent_for_a_client_that_cannot_ask() -> None:
    ctx = FakeContext(elicits=False)
    allowance = SpendAllowance(300)
    assert anyio.run(obtain_consent, ctx, OFFER, allowance) == 300
    assert ctx.asked == []
