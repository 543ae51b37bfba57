"""``gptimg mcp --sandbox`` end to end, through the MCP SDK's own stdio client.

Each test starts the real server process (with its embedded sandbox) and speaks
MCP to it. Submits are counted in the journal the server writes (one row per
submit attempt) and in the sandbox's own balance (the ``account`` tool reads it
from the gateway): a paid job shows up in both, a refused one in neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from .conftest import McpServer, all_text, answering, payload, require_sdk, run_scenario

require_sdk()

pytestmark = pytest.mark.e2e

ACCEPT = {"confirm": True}
PRICE = 300
START_BALANCE = 3000


async def balance(session: Any) -> float:
    result = await session.call_tool("account", {})
    assert not result.is_error, all_text(result)
    return payload(result)["balance"]


def assert_png_files(paths: list[str], folder: Path) -> None:
    assert paths
    for raw in paths:
        path = Path(raw)
        assert path.parent == folder, path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def test_initialize_lists_the_five_tools_with_schemas_and_annotations(mcp_server: Any) -> None:
    server: McpServer = mcp_server("--sandbox")

    async def scenario() -> None:
        async with server.connect() as session:
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == {"generate_image", "get_job", "list_jobs", "list_styles", "account"}
        generate = tools["generate_image"]
        schema = generate.input_schema
        assert schema["required"] == ["prompt"]
        assert set(schema["properties"]) >= {"prompt", "style", "size", "n", "reference_images", "output_folder"}
        styles = [option for option in schema["properties"]["style"]["anyOf"] if "enum" in option][0]["enum"]
        assert len(styles) == 20 and "ghibli_anime" in styles
        n = [option for option in schema["properties"]["n"]["anyOf"] if option.get("type") == "integer"][0]
        assert (n["minimum"], n["maximum"]) == (1, 4)
        assert "ctx" not in schema["properties"]
        assert "credits" in generate.description and "get_job" in generate.description
        paid = generate.annotations
        assert paid.read_only_hint is False and paid.idempotent_hint is False and paid.open_world_hint is True
        for name in ("list_jobs", "list_styles", "account"):
            assert tools[name].annotations.read_only_hint is True, name
        assert tools["get_job"].input_schema["required"] == ["job_id"]
        assert tools["get_job"].annotations.idempotent_hint is True

    run_scenario(scenario)


def test_generate_with_consent_submits_once_reports_progress_and_saves(mcp_server: Any, tmp_path: Path) -> None:
    server: McpServer = mcp_server("--sandbox")
    asked: list[str] = []
    progress: list[tuple[float, float | None, str | None]] = []
    out = tmp_path / "pictures"

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def scenario() -> tuple[Any, float, float]:
        async with server.connect(elicit=answering("accept", ACCEPT, asked)) as session:
            before = await balance(session)
            result = await session.call_tool(
                "generate_image",
                {"prompt": "a shiba inu", "style": "ghibli_anime", "n": 2, "output_folder": str(out)},
                progress_callback=on_progress,
            )
            return result, before, await balance(session)

    result, before, after = run_scenario(scenario)
    assert not result.is_error, all_text(result)
    data = payload(result)
    # Asked once, with everything a person needs to decide.
    assert len(asked) == 1
    for fact in ("a shiba inu", "ghibli_anime", "1024x1024", "Images: 2", f"{PRICE} credits", f"{START_BALANCE}"):
        assert fact in asked[0], (fact, asked[0])
    # One submit: one journal row, one charge on the gateway.
    jobs = server.jobs()
    assert [job.job_id for job in jobs] == [data["job_id"]]
    assert jobs[0].status == "done"
    assert (before, after) == (START_BALANCE, START_BALANCE - PRICE)
    assert data["credits_used"] == PRICE
    assert_png_files(data["saved"], out)
    assert len(data["saved"]) == 2
    # The images come back as file links, and inline (they are small).
    links = [block for block in result.content if block.type == "resource_link"]
    images = [block for block in result.content if block.type == "image"]
    assert [link.uri for link in links] == [Path(path).as_uri() for path in data["saved"]]
    assert len(images) == 2 and all(image.mime_type == "image/png" for image in images)
    # Progress: elapsed against the estimate, naming the job.
    assert progress, "no progress notification arrived"
    assert progress[0][1] is not None and data["job_id"] in (progress[0][2] or "")
    assert [value for value, _, _ in progress] == sorted(value for value, _, _ in progress)


def test_a_refused_consent_spends_nothing(mcp_server: Any) -> None:
    server: McpServer = mcp_server("--sandbox")
    answers = [("decline", None), ("cancel", None), ("accept", {"confirm": False})]
    asked: list[str] = []

    async def one_answer_per_question(context: Any, params: Any) -> Any:
        action, content = answers[len(asked)]
        return await answering(action, content, asked)(context, params)

    async def scenario() -> tuple[list[Any], float]:
        async with server.connect(elicit=one_answer_per_question) as session:
            results = [await session.call_tool("generate_image", {"prompt": "a red fox"}) for _ in answers]
            return results, await balance(session)

    results, after = run_scenario(scenario)
    assert len(asked) == len(answers)
    for result in results:
        assert result.is_error
        error = payload(result)
        assert error["error"] == "declined" and "nothing was spent" in error["message"].lower(), error
    assert server.jobs() == []
    assert after == START_BALANCE


def test_a_client_without_elicitation_and_no_allowance_is_refused(mcp_server: Any) -> None:
    server: McpServer = mcp_server("--sandbox")

    async def scenario() -> tuple[Any, float]:
        async with server.connect() as session:
            result = await session.call_tool("generate_image", {"prompt": "a red fox"})
            return result, await balance(session)

    result, after = run_scenario(scenario)
    assert result.is_error
    error = payload(result)
    assert error["error"] == "confirmation_required"
    assert error["exit_code"] == 2
    assert "--allow-spend" in error["hint"] and "Nothing was spent" in error["hint"]
    assert server.jobs() == []
    assert after == START_BALANCE


def test_an_allowance_lets_a_client_without_elicitation_spend_up_to_its_cap(mcp_server: Any, tmp_path: Path) -> None:
    server: McpServer = mcp_server("--sandbox", "--allow-spend", str(PRICE * 2 - 1), "--out", str(tmp_path))

    async def scenario() -> tuple[list[Any], Any, Any, float]:
        async with server.connect() as session:
            results: list[Any] = []

            async def generate(prompt: str) -> None:
                results.append(await session.call_tool("generate_image", {"prompt": prompt}))

            # Two calls at the same moment: the cap (one price's worth) lets exactly one through.
            async with anyio.create_task_group() as group:
                group.start_soon(generate, "a red fox")
                group.start_soon(generate, "a blue whale")
            later = await session.call_tool("generate_image", {"prompt": "a green frog"})
            account = payload(await session.call_tool("account", {}))
            return results, later, account, await balance(session)

    results, later, account, after = run_scenario(scenario)
    paid = [result for result in results if not result.is_error]
    refused = [result for result in results if result.is_error]
    assert len(paid) == 1 and len(refused) == 1, [all_text(result) for result in results]
    assert payload(refused[0])["error"] == "confirmation_required"
    assert "allowance" in payload(refused[0])["message"]
    assert later.is_error and payload(later)["error"] == "confirmation_required"
    assert_png_files(payload(paid[0])["saved"], tmp_path)
    assert len(server.jobs()) == 1
    assert after == START_BALANCE - PRICE
    assert account["spent_this_session"] == PRICE and account["allowance_left"] == PRICE - 1


@pytest.mark.parametrize("how", ["cancelled", "host timeout"])
def test_a_cancelled_call_keeps_the_job_and_get_job_finishes_it(mcp_server: Any, tmp_path: Path, how: str) -> None:
    server: McpServer = mcp_server("--sandbox", "--out", str(tmp_path), GPTIMG_SANDBOX_DELAY="4")

    async def scenario() -> tuple[Any, Any, list[Any], float]:
        async with server.connect(elicit=answering("accept", ACCEPT)) as session:
            waiting = anyio.Event()

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                waiting.set()  # the submit is done and the server is waiting for the job

            async def call() -> None:
                timeout = 1.0 if how == "host timeout" else None
                try:
                    await session.call_tool(
                        "generate_image", {"prompt": "a lighthouse"}, timeout, progress_callback=on_progress
                    )
                except Exception as exc:  # the host's own timeout error
                    assert how == "host timeout", exc

            async with anyio.create_task_group() as group:
                group.start_soon(call)
                await waiting.wait()
                if how == "cancelled":
                    group.cancel_scope.cancel()
            listed = payload(await session.call_tool("list_jobs", {}))["jobs"]
            early = await session.call_tool("get_job", {"job_id": listed[0]["job_id"], "wait_seconds": 0})
            finished = []
            while not finished or payload(finished[-1])["status"] != "done":
                finished.append(await session.call_tool("get_job", {"job_id": listed[0]["job_id"]}))
                assert not finished[-1].is_error, all_text(finished[-1])
            return listed, early, finished, await balance(session)

    listed, early, finished, after = run_scenario(scenario)
    assert len(listed) == 1 and listed[0]["status"] in ("submitted", "running")
    job_id = listed[0]["job_id"]
    # A bounded check answers at once, and "running" is not an error.
    assert not early.is_error and payload(early)["status"] == "running"
    assert "get_job" in payload(early)["next"]
    done = payload(finished[-1])
    assert done["job_id"] == job_id
    assert_png_files(done["saved"], tmp_path)
    assert all(item["downloaded"] for item in done["items"]), "the cancelled call must not have saved them"
    assert [job.job_id for job in server.jobs()] == [job_id] and server.jobs()[0].status == "done"
    assert after == START_BALANCE - PRICE


def test_bad_input_is_a_tool_error_before_anything_is_asked_or_spent(mcp_server: Any, tmp_path: Path) -> None:
    server: McpServer = mcp_server("--sandbox")
    asked: list[str] = []
    missing = tmp_path / "no-such-reference.png"
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")

    async def scenario() -> list[Any]:
        async with server.connect(elicit=answering("accept", ACCEPT, asked)) as session:
            return [
                await session.call_tool("generate_image", {"prompt": "a fox", "reference_images": [str(missing)]}),
                await session.call_tool("generate_image", {"prompt": "a fox", "reference_images": [str(not_an_image)]}),
                await session.call_tool("generate_image", {"prompt": "   "}),
                await session.call_tool("generate_image", {"prompt": "a fox", "style": "ghibli"}),
                await session.call_tool("get_job", {"job_id": "no such\njob"}),
            ]

    results = run_scenario(scenario)
    assert all(result.is_error for result in results)
    for result in results[:3] + results[4:]:
        error = payload(result)
        assert error["error"] == "invalid_arguments" and error["exit_code"] == 2 and error["hint"], error
    assert "style" in all_text(results[3])
    assert asked == [] and server.jobs() == []


def test_get_job_of_an_unknown_job_is_the_clis_error(mcp_server: Any) -> None:
    server: McpServer = mcp_server("--sandbox")

    async def scenario() -> Any:
        async with server.connect() as session:
            return await session.call_tool("get_job", {"job_id": "0123456789ab", "wait_seconds": 1})

    result = run_scenario(scenario)
    assert result.is_error
    error = payload(result)
    assert error["error"] == "job_not_found" and error["exit_code"] == 5 and error["job_id"] == "0123456789ab"
