"""Hints in the agent CLI name commands that exist where it runs (``python bin/uno.py …``), never ``gptimg``."""

from __future__ import annotations

from gptimg import errors
from gptimg.unocli.compat import agent_hint


def _all_error_classes() -> list[type[errors.GptimgError]]:
    found, pending = [], [errors.GptimgError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_no_agent_hint_names_a_gptimg_command() -> None:
    for cls in _all_error_classes():
        hint = agent_hint(cls.__new__(cls))
        assert "gptimg " not in hint, (cls.__name__, hint)


def test_hints_without_gptimg_are_kept() -> None:
    assert agent_hint(errors.RateLimited("slow down")) == errors.RateLimited.hint
    assert "bin/uno.py logs" in agent_hint(errors.SubmitOutcomeUnknown("?"))
