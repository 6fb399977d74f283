"""A real MCP client (the official Python SDK) for chitin's end-to-end tests.

    client.py (--stdio "COMMAND ..." | --http URL --token T) [--mode auto] SUBCOMMAND ...

With --mode auto the SDK's `Client` probes `server/discover` and speaks protocol
2026-07-28 (stateless) when the server offers it; by default, 2025-11-25 through
`initialize` and a session.

Subcommands (each prints one JSON object on stdout, the last line):
    list                          every tool, following pagination
    call NAME ARGS_JSON           the tool result (isError, content, structuredContent)
    watch                         list, wait for tools/list_changed (until a line on
                                  stdin or --timeout), list again
    cancel NAME ARGS_JSON --after-ms N
                                  start a call, cancel it after N ms
    progress NAME ARGS_JSON       the call's result and the progress notifications
    elicit NAME ARGS_JSON ANSWER  call, answering an approval question with ANSWER
                                  (once, session, always, no, decline, cancel)
    many NAME ARGS_JSON --clients N
                                  N sessions at once, each calling the tool once
    raw                           (HTTP) POST a malformed body, then list

Exit status 0 when the client did what was asked; the JSON says what the server said.
"""

import argparse
import json
import shlex
import sys
import time

import anyio
import httpx2
from mcp import Client, types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client


def dump(obj):
    print(json.dumps(obj, sort_keys=True))
    sys.stdout.flush()


def tool_json(tool):
    return tool.model_dump(by_alias=True, mode="json", exclude_none=True)


def result_json(result):
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


class Connection:
    """Opens a session over the chosen transport with the given callbacks."""

    def __init__(self, opts, **session_kwargs):
        self.opts = opts
        self.session_kwargs = session_kwargs

    async def __aenter__(self):
        self.stack = __import__("contextlib").AsyncExitStack()
        await self.stack.__aenter__()
        if self.opts.stdio:
            argv = shlex.split(self.opts.stdio)
            params = StdioServerParameters(command=argv[0], args=argv[1:])
            transport = stdio_client(params, errlog=sys.stderr)
        else:
            client = httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {self.opts.token}"},
                timeout=httpx2.Timeout(30.0, read=300.0),
            )
            await self.stack.enter_async_context(client)
            transport = streamable_http_client(self.opts.http, http_client=client)
        if self.opts.mode == "auto":
            client = Client(
                transport,
                mode="auto",
                client_info=types.Implementation(name="chitin-e2e client", version="1"),
                **self.session_kwargs,
            )
            await self.stack.enter_async_context(client)
            self.session = client.session
            self.protocol_version = client.protocol_version
            return self.session
        streams = await self.stack.enter_async_context(transport)
        read, write = streams[0], streams[1]
        session = ClientSession(
            read,
            write,
            client_info=types.Implementation(name="chitin-e2e client", version="1"),
            **self.session_kwargs,
        )
        self.session = await self.stack.enter_async_context(session)
        init = await self.session.initialize()
        self.protocol_version = init.protocol_version
        return self.session

    async def __aexit__(self, *exc):
        return await self.stack.__aexit__(*exc)


async def list_all(session):
    tools, cursor, pages = [], None, 0
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        pages += 1
        tools.extend(tool_json(t) for t in page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools, pages


async def cmd_list(opts):
    conn = Connection(opts)
    async with conn as session:
        tools, pages = await list_all(session)
        dump({"tools": tools, "pages": pages, "protocolVersion": conn.protocol_version})


async def cmd_call(opts):
    async with Connection(opts) as session:
        result = await session.call_tool(opts.name, json.loads(opts.args))
        dump(result_json(result))


async def cmd_watch(opts):
    changed = anyio.Event()

    async def on_message(message):
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with Connection(opts, message_handler=on_message) as session:
        before, _ = await list_all(session)
        # Tell the test we are listening: it may now change the catalogue.
        print(json.dumps({"ready": True}))
        sys.stdout.flush()
        with anyio.move_on_after(opts.timeout):
            await changed.wait()
        after, _ = await list_all(session)
        dump(
            {
                "changed": changed.is_set(),
                "before": [t["name"] for t in before],
                "after": [t["name"] for t in after],
            }
        )


async def cmd_cancel(opts):
    async with Connection(opts) as session:
        outcome = {"cancelled": False, "result": None}
        started = time.monotonic()
        with anyio.move_on_after(opts.after_ms / 1000.0) as scope:
            outcome["result"] = result_json(await session.call_tool(opts.name, json.loads(opts.args)))
        outcome["cancelled"] = scope.cancelled_caught
        outcome["elapsedMs"] = int((time.monotonic() - started) * 1000)
        # The session still answers after a cancelled call.
        tools, _ = await list_all(session)
        outcome["listedAfter"] = len(tools)
        # Give the courtesy notifications/cancelled time to reach the server.
        await anyio.sleep(0.5)
        dump(outcome)


async def cmd_progress(opts):
    seen = []

    async def on_progress(progress, total, message):
        seen.append({"progress": progress, "total": total, "message": message})

    async with Connection(opts) as session:
        result = await session.call_tool(opts.name, json.loads(opts.args), progress_callback=on_progress)
        dump({"result": result_json(result), "progress": seen})


async def cmd_elicit(opts):
    asked = []

    async def on_elicit(context, params):
        asked.append(params.model_dump(by_alias=True, mode="json", exclude_none=True))
        if opts.answer in ("decline", "cancel"):
            return types.ElicitResult(action=opts.answer)
        return types.ElicitResult(action="accept", content={"answer": opts.answer})

    async with Connection(opts, elicitation_callback=on_elicit) as session:
        results = []
        for _ in range(opts.times):
            results.append(result_json(await session.call_tool(opts.name, json.loads(opts.args))))
        dump({"asked": asked, "results": results})


async def cmd_many(opts):
    """N clients at once, each its own session calling the tool once."""
    results = [None] * opts.clients

    async def one(i):
        try:
            async with Connection(opts) as session:
                results[i] = result_json(await session.call_tool(opts.name, json.loads(opts.args)))
        except Exception as e:  # reported, not raised: the test counts the answers
            results[i] = {"clientError": repr(e)}

    async with anyio.create_task_group() as tg:
        for i in range(opts.clients):
            tg.start_soon(one, i)
    dump({"results": results})


async def cmd_raw(opts):
    headers = {
        "Authorization": f"Bearer {opts.token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    async with httpx2.AsyncClient(timeout=30.0) as client:
        bad = await client.post(opts.http, content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers=headers)
    out = {"status": bad.status_code, "body": bad.text}
    async with Connection(opts) as session:
        tools, _ = await list_all(session)
        out["listedAfter"] = len(tools)
    dump(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stdio")
    p.add_argument("--http")
    p.add_argument("--token", default="")
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--mode", choices=["legacy", "auto"], default="legacy")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    for name in ("call", "progress"):
        s = sub.add_parser(name)
        s.add_argument("name")
        s.add_argument("args")
    s = sub.add_parser("cancel")
    s.add_argument("name")
    s.add_argument("args")
    s.add_argument("--after-ms", type=int, default=500)
    s = sub.add_parser("elicit")
    s.add_argument("name")
    s.add_argument("args")
    s.add_argument("answer")
    s.add_argument("--times", type=int, default=1)
    s = sub.add_parser("many")
    s.add_argument("name")
    s.add_argument("args")
    s.add_argument("--clients", type=int, default=50)
    sub.add_parser("watch")
    sub.add_parser("raw")
    opts = p.parse_args()
    if bool(opts.stdio) == bool(opts.http):
        p.error("give exactly one of --stdio and --http")
    run = {
        "list": cmd_list,
        "call": cmd_call,
        "watch": cmd_watch,
        "cancel": cmd_cancel,
        "progress": cmd_progress,
        "elicit": cmd_elicit,
        "raw": cmd_raw,
        "many": cmd_many,
    }[opts.cmd]
    anyio.run(run, opts)


if __name__ == "__main__":
    main()
