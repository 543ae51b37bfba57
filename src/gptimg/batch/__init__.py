"""``gptimg batch``: many generations from one manifest, concurrent, rate-limited and resumable.

``manifest`` reads and validates the lines before anything is spent, ``ratelimit``
paces submits, ``runner`` schedules jobs and resumes from the journal,
``contact_sheet`` writes ``index.html`` and ``report`` tallies the outcome.
"""

from __future__ import annotations
