"""``batch``'s arguments, written once (see ``option_table``): its Typer command and the quick reader read this."""

from __future__ import annotations

from gptimg.cli.option_table import REQUIRED, Parameter

#: In the order ``gptimg batch --help`` lists them; the first is the positional MANIFEST.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter("manifest", (), "text", default=REQUIRED, metavar="MANIFEST",
              help="JSONL, CSV or .txt (one prompt per line, # comments) file; - reads stdin."),
    Parameter("concurrency", ("--concurrency", "-c"), "int", default=4, minimum=1, maximum=512, metavar="N",
              help="Jobs in flight at once (submitted, not yet finished)."),
    Parameter("rate_limit", ("--rate-limit",), "int", default=60, minimum=0, metavar="CALLS_PER_MIN",
              help="At most this many submits in any 60 s; 0 turns it off."),
    Parameter("out", ("--out", "-o"), "text", metavar="DIR", help="Save into DIR (default: here)."),
    Parameter("yes", ("--yes", "-y"), "flag", help="Spend the credits without asking (agents: ask first)."),
    Parameter("max_credits", ("--max-credits",), "float", minimum=0, metavar="N",
              help="Never commit more than N credits; later lines are skipped."),
    Parameter("sandbox", ("--sandbox",), "flag", help="Run against an embedded local sandbox (no real credits)."),
    Parameter("manifest_format", ("--format",), "text", metavar="jsonl|csv|txt",
              help="Manifest format (default: by extension, else by content)."),
    Parameter("resubmit_failed", ("--resubmit-failed",), "flag",
              help="Pay again for lines whose earlier job the gateway failed or forgot."),
    Parameter("new_images", ("--new-images",), "flag",
              help="Pay again for lines that already have images or a paid job (asks first)."),
    Parameter("dry_run", ("--dry-run",), "flag", help="Show the plan and its cost; submit nothing, spend nothing."),
)
