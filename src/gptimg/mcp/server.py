"""The MCP server: five tools declared with schemas, descriptions and annotations, served on stdio.

Only this module and its siblings import the MCP SDK, and only ``gptimg mcp``
imports them. Declarations live here; behaviour lives in ``tools.py``. Every
tool answers through :func:`_guarded`, so a gptimg failure becomes an MCP tool
error with the CLIs' code and hint, and a bug never shows a traceback.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Awaitable
from typing import Annotated, Callable, Literal, Optional

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from gptimg import __version__, errors
from gptimg.image_tool import MAX_IMAGES, MAX_WAIT_SECONDS, MIN_IMAGES, SIZES
from gptimg.mcp import tools
from gptimg.mcp.results import error_result, unexpected_result
from gptimg.mcp.tools import DEFAULT_GET_JOB_WAIT, GenerateArgs, ServerState
from gptimg.styles import STYLES

StyleKey = Literal[tuple(STYLES)]  # type: ignore[valid-type]
SizeName = Literal[tuple(SIZES)]  # type: ignore[valid-type]

INSTRUCTIONS = (
    "gptimg makes images with OpenAI's gpt-image-2 through the Uno gateway. Each generate_image call spends "
    "real credits (see account for the price): the server asks the user to confirm, or spends only within the "
    "allowance the user configured. Nothing is ever submitted twice by the server. If a call is cut off, the job "
    "keeps running: find it with list_jobs and finish it with get_job (free)."
)

GENERATE_DESCRIPTION = (
    "Generate images with gpt-image-2 and save them to disk. PAID: one call submits one job and spends credits "
    "(usually 300; call `account` for the price and balance). Before spending, the user is asked to confirm the "
    "prompt, options and price (or the server's configured allowance is checked); a refusal spends nothing. A job "
    "takes about 150 s; progress notifications report elapsed and estimated time. Returns the saved file paths, "
    "the job_id and the credits used, with the images attached. Do NOT call again to retry a call that was cut "
    "off or timed out: the job keeps running and is in the journal; use list_jobs and get_job (free) instead."
)
GET_JOB_DESCRIPTION = (
    "Finish a job by its job_id, free: checks it once (waiting at most wait_seconds, default 40, at most 50), and "
    "when it is done saves the images and returns their paths. If it answers status 'running', call get_job again. "
    "Use it to recover a generate_image call that was cancelled or timed out (find the id with list_jobs)."
)
LIST_JOBS_DESCRIPTION = (
    "List recent jobs from the local journal, newest first (free, no network): job_id, status, prompt, options, "
    "credits used and saved files. Status 'submitted' or 'running' can be finished with get_job; 'unknown' means "
    "a submit's outcome is unknown and it may have been charged (do not resubmit without asking the user)."
)
LIST_STYLES_DESCRIPTION = (
    "List the 20 style presets (key and description), the sizes and the images-per-job range that generate_image "
    "accepts (free, no network)."
)
ACCOUNT_DESCRIPTION = (
    "Show who is logged in, the credit balance, the current price of one generate_image call, what this server "
    "session has spent and how much of its allowance is left (free)."
)

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


async def _guarded(state: ServerState, call: Awaitable[CallToolResult]) -> CallToolResult:
    """gptimg errors as MCP tool errors (``isError``); a cancellation still propagates."""
    try:
        return await call
    except errors.GptimgError as exc:
        return error_result(exc, state.secrets())
    except anyio.get_cancelled_exc_class():
        raise
    except Exception as exc:
        return unexpected_result(exc)


def build_server(state: ServerState) -> MCPServer:
    """An ``MCPServer`` with the five tools bound to ``state``."""
    server = MCPServer(name="gptimg", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")

    @server.tool(
        name="generate_image",
        title="Generate images (paid)",
        description=GENERATE_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Generate images (paid)",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
    async def generate_image(
        prompt: Annotated[str, Field(description="What to draw, in any language; passed to the model verbatim.")],
        ctx: Context,
        style: Annotated[
            Optional[StyleKey], Field(description="A style preset key (see list_styles); omit for none.")
        ] = None,
        size: Annotated[Optional[SizeName], Field(description="Image size; default 1024x1024.")] = None,
        n: Annotated[
            Optional[int], Field(ge=MIN_IMAGES, le=MAX_IMAGES, description="Images in the job, 1 to 4; default 1.")
        ] = None,
        reference_images: Annotated[
            Optional[list[str]],
            Field(description="Reference images for image-to-image: absolute file paths or http(s) URLs."),
        ] = None,
        output_folder: Annotated[
            Optional[str],
            Field(description="Folder to save into (created if needed); default: the server's output folder."),
        ] = None,
        wait_seconds: Annotated[
            Optional[float],
            Field(ge=0, description="Stop waiting after this long and answer 'running' (job kept); default 600."),
        ] = None,
    ) -> CallToolResult:
        args = GenerateArgs(prompt, style, size, n, reference_images, output_folder, wait_seconds)
        return await _guarded(state, tools.generate_image(state, ctx, args))

    @server.tool(
        name="get_job",
        title="Finish a job (free)",
        description=GET_JOB_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Finish a job (free)",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=True,
        ),
    )
    async def get_job(
        job_id: Annotated[str, Field(description="The job_id from generate_image or list_jobs.")],
        ctx: Context,
        output_folder: Annotated[
            Optional[str], Field(description="Where to save; default: the folder the job was submitted with.")
        ] = None,
        wait_seconds: Annotated[
            Optional[float],
            Field(
                ge=0,
                le=MAX_WAIT_SECONDS,
                description=f"Longest wait for this one check; default {DEFAULT_GET_JOB_WAIT:g}.",
            ),
        ] = None,
    ) -> CallToolResult:
        return await _guarded(state, tools.get_job(state, ctx, job_id, output_folder, wait_seconds))

    @server.tool(name="list_jobs", title="Recent jobs", description=LIST_JOBS_DESCRIPTION, annotations=READ_ONLY)
    async def list_jobs(
        limit: Annotated[Optional[int], Field(ge=1, le=200, description="How many jobs; default 20.")] = None,
    ) -> CallToolResult:
        return await _guarded(state, tools.list_jobs(state, limit))

    @server.tool(name="list_styles", title="Styles and sizes", description=LIST_STYLES_DESCRIPTION, annotations=READ_ONLY)
    async def list_styles() -> CallToolResult:
        return await _guarded(state, tools.list_styles(state))

    @server.tool(
        name="account",
        title="Account, balance and price",
        description=ACCOUNT_DESCRIPTION,
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def account() -> CallToolResult:
        return await _guarded(state, tools.account(state))

    return server


async def _serve_until_stopped(server: MCPServer, state: ServerState, on_signal: Callable[[int], None]) -> None:
    """Serve until stdin closes; on SIGTERM/SIGINT, let paid submits reach the journal, then ``on_signal``.

    Cancelling the SDK's stdio server does not end it (it reads stdin in a thread
    that only a closed stdin ends), so a signal does not unwind the server: it waits
    for every submit in flight to have its job id journalled (they are shielded and
    bounded by the submit's own timeouts) and hands over to ``on_signal``, which
    leaves the process. Waits for a job are simply dropped: the jobs stay in the journal.
    """
    async with anyio.create_task_group() as group:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    await state.paid.settled()
                    on_signal(signum)
                    return

        if sys.platform != "win32":  # asyncio has no signal handlers there; the default ones apply
            group.start_soon(stop_on_signal)
        await server.run_stdio_async()
        group.cancel_scope.cancel()


def serve(state: ServerState, on_signal: Callable[[int], None]) -> None:
    """Serve on stdin/stdout until the client closes the connection, or a signal makes ``on_signal`` leave."""
    anyio.run(_serve_until_stopped, build_server(state), state, on_signal)
