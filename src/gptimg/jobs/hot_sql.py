"""The journal's statements that run for every image, written out once.

Built per call from a dict of changes, each of these cost a dict, a join over a
generator and an f-string per image (39,000 generator steps in a 3,000-line batch,
cProfile); a fixed text is also what SQLite's statement cache keys on, so each is
prepared once per connection. ``journal.py`` keeps the general ``_update`` for the
rare writes.
"""

from __future__ import annotations

_SUBMIT_COLUMNS = (
    "created_at, updated_at, status, gateway, account, prompt, style, size, n,"
    " reference_urls, out_dir, batch_key, name, sandbox, out_target"
)
_SUBMIT_MARKS = ",".join("?" * 15)

#: A submit's row, before the money can move.
INSERT_SUBMIT = f"INSERT INTO jobs ({_SUBMIT_COLUMNS}) VALUES ({_SUBMIT_MARKS})"  # noqa: S608
#: The gateway's answer to a submit: (status, job_id, estimated_seconds, credits_used, updated_at, row id).
UPDATE_JOB_ID = "UPDATE jobs SET status = ?, job_id = ?, estimated_seconds = ?, credits_used = ?, updated_at = ? WHERE id = ?"
#: A done job's items: (status, items, updated_at, job_id); the error of an earlier attempt is cleared.
MARK_DONE = "UPDATE jobs SET status = ?, items = ?, error = NULL, error_code = NULL, updated_at = ? WHERE job_id = ?"
#: The same with its saved files: (status, items, files, updated_at, job_id).
MARK_DONE_WITH_FILES = (
    "UPDATE jobs SET status = ?, items = ?, files = ?, error = NULL, error_code = NULL, updated_at = ? WHERE job_id = ?"
)
