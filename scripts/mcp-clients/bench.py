"""Times `tools/call` as a real MCP client (the official Python SDK) sees it.

    bench.py (--stdio "COMMAND ..." | --http URL --token T | --sse URL) NAME ARGS_JSON
             [--modern | --lean] [--calls N] [--warmup N] [--concurrent C --seconds S]

With --modern the client speaks protocol 2026-07-28 (stateless, no `initialize`)
through the SDK's `Client`; without it, 2025-11-25 with a session. With --lean (HTTP
only) no SDK is used: a minimal client in the standard library, to show the servers'
own share of the latency (see LeanHttp).

Prints one JSON object: p50/p99/min of N sequential calls in one session (ms), the
server's CPU time per call over those calls (µs: its threads' run time from
/proc/PID/task/*/schedstat; the server is this process's child over stdio, or
--server-pid over HTTP), and, with --concurrent, calls per second over S seconds with
C sessions calling at once.
The same script drives every server compared (chitin, Wassette), so the client's own
cost is the same on every line. Used by tests/benches/mcp.rs.
"""

import argparse
import http.client
import json
import os
import queue
import shlex
import sys
import threading
import time
import urllib.parse
from contextlib import AsyncExitStack

import anyio
import httpx2
from mcp import Client, types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client


async def connect(opts, stack):
    if opts.modern:
        return await connect_modern(opts, stack)
    if opts.stdio:
        argv = shlex.split(opts.stdio)
        params = StdioServerParameters(command=argv[0], args=argv[1:])
        streams = await stack.enter_async_context(stdio_client(params, errlog=sys.stderr))
    elif opts.sse:
        from mcp.client.sse import sse_client

        streams = await stack.enter_async_context(sse_client(opts.sse))
    else:
        client = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {opts.token}"} if opts.token else {},
            timeout=httpx2.Timeout(30.0, read=300.0),
        )
        await stack.enter_async_context(client)
        streams = await stack.enter_async_context(
            streamable_http_client(opts.http, http_client=client)
        )
    session = ClientSession(
        streams[0], streams[1], client_info=types.Implementation(name="chitin-bench", version="1")
    )
    session = await stack.enter_async_context(session)
    await session.initialize()
    return session


async def connect_modern(opts, stack):
    info = types.Implementation(name="chitin-bench", version="1")
    if opts.stdio:
        argv = shlex.split(opts.stdio)
        transport = stdio_client(StdioServerParameters(command=argv[0], args=argv[1:]), errlog=sys.stderr)
    else:
        client = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {opts.token}"} if opts.token else {},
            timeout=httpx2.Timeout(30.0, read=300.0),
        )
        await stack.enter_async_context(client)
        transport = streamable_http_client(opts.http, http_client=client)
    return await stack.enter_async_context(Client(transport, mode="2026-07-28", client_info=info))


def server_pid(opts):
    """The server's pid: given, or this process's only child (the stdio server)."""
    if opts.server_pid:
        return opts.server_pid
    children = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            children += [int(c) for c in f.read().split()]
    return children[0] if len(children) == 1 else None


def cpu_ns(pid):
    """Run time of every thread of `pid` so far, in ns (None if it cannot be read)."""
    if pid is None:
        return None
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return total


def quantile(samples, q):
    s = sorted(samples)
    return s[round((len(s) - 1) * q)]


async def wait_for_tool(session, name):
    """Wait up to 10 s for `name` to be listed: a server may load its components after
    it starts answering (Wassette of 2026-07 does), and a call before that fails."""
    deadline = time.perf_counter() + 10.0
    while not any(t.name == name for t in (await session.list_tools()).tools):
        if time.perf_counter() > deadline:
            raise SystemExit(f"the server lists no tool {name!r}")
        await anyio.sleep(0.1)


async def sequential(opts, args):
    async with AsyncExitStack() as stack:
        session = await connect(opts, stack)
        await wait_for_tool(session, opts.name)
        for _ in range(opts.warmup):
            await call(session, opts.name, args)
        pid = server_pid(opts)
        cpu_before = cpu_ns(pid)
        times = []
        for _ in range(opts.calls):
            started = time.perf_counter()
            await call(session, opts.name, args)
            times.append((time.perf_counter() - started) * 1000.0)
        cpu_after = cpu_ns(pid)
    return summary(times, cpu_before, cpu_after)


def summary(times, cpu_before, cpu_after):
    out = {
        "calls": len(times),
        "p50_ms": quantile(times, 0.5),
        "p99_ms": quantile(times, 0.99),
        "min_ms": min(times),
    }
    if cpu_before is not None and cpu_after is not None:
        out["server_cpu_us_per_call"] = (cpu_after - cpu_before) / 1000.0 / len(times)
    return out


async def call(session, name, args):
    result = await session.call_tool(name, args)
    if result.is_error:
        raise SystemExit(f"the call failed: {result.model_dump_json()}")


async def concurrent(opts, args):
    done = [0]
    deadline = [0.0]

    async def one():
        async with AsyncExitStack() as stack:
            session = await connect(opts, stack)
            await call(session, opts.name, args)
            while time.perf_counter() < deadline[0]:
                await call(session, opts.name, args)
                done[0] += 1

    deadline[0] = time.perf_counter() + opts.seconds + 2.0
    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(opts.concurrent):
            tg.start_soon(one)
    elapsed = time.perf_counter() - started
    return {"clients": opts.concurrent, "calls": done[0], "calls_per_s": done[0] / elapsed}


class LeanHttp:
    """A lean client: the standard library's blocking HTTP, one keep-alive connection,
    no SDK. It speaks only what the timed call needs: 2026-07-28 `tools/call` for
    Streamable HTTP (one POST, one JSON answer), or the legacy SSE transport (a POST
    answered 202, the answer on the standing event stream). The same Python sits
    under both servers, so the difference is the servers'."""

    def __init__(self, opts):
        self.opts = opts
        url = urllib.parse.urlsplit(opts.http or opts.sse)
        self.path = url.path
        self.conn = http.client.HTTPConnection(url.hostname, url.port)
        self.answers = queue.Queue()
        if opts.sse:
            stream = http.client.HTTPConnection(url.hostname, url.port)
            stream.request("GET", url.path, headers={"Accept": "text/event-stream"})
            threading.Thread(target=self.read_events, args=(stream.getresponse(),), daemon=True).start()
            self.path = self.answers.get()  # the `endpoint` event
            self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2024-11-05", "capabilities": {},
                "clientInfo": {"name": "chitin-bench-lean", "version": "1"}}})
            self.answers.get()
            self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.next_id = 1

    def read_events(self, response):
        while line := response.fp.readline():
            if line.startswith(b"data:"):
                self.answers.put(line[5:].strip().decode())

    def post(self, message, headers=None):
        self.conn.request("POST", self.path, json.dumps(message).encode(),
                          {"Content-Type": "application/json",
                           "Accept": "application/json, text/event-stream", **(headers or {})})
        response = self.conn.getresponse()
        return response.read()

    def call(self, name, args):
        self.next_id += 1
        params = {"name": name, "arguments": args}
        if self.opts.sse:
            self.post({"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call", "params": params})
            answer = self.answers.get()
        else:
            version = "2026-07-28"
            params["_meta"] = {
                "io.modelcontextprotocol/protocolVersion": version,
                "io.modelcontextprotocol/clientInfo": {"name": "chitin-bench-lean", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {},
            }
            answer = self.post(
                {"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call", "params": params},
                {"Authorization": f"Bearer {self.opts.token}", "MCP-Protocol-Version": version,
                 "Mcp-Method": "tools/call", "Mcp-Name": name})
        result = json.loads(answer).get("result")
        if not result or result.get("isError"):
            raise SystemExit(f"the call failed: {answer}")


def lean(opts, args):
    client = LeanHttp(opts)
    for _ in range(opts.warmup):
        client.call(opts.name, args)
    pid = server_pid(opts)
    cpu_before = cpu_ns(pid)
    times = []
    for _ in range(opts.calls):
        started = time.perf_counter()
        client.call(opts.name, args)
        times.append((time.perf_counter() - started) * 1000.0)
    return summary(times, cpu_before, cpu_ns(pid))


async def main(opts):
    args = json.loads(opts.args)
    if opts.lean:
        print(json.dumps({"sequential": lean(opts, args)}))
        return
    out = {"sequential": await sequential(opts, args)}
    if opts.concurrent:
        out["concurrent"] = await concurrent(opts, args)
    print(json.dumps(out))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--stdio")
    p.add_argument("--http")
    p.add_argument("--sse")
    p.add_argument("--token", default="")
    p.add_argument("--server-pid", type=int, default=0)
    p.add_argument("--modern", action="store_true")
    p.add_argument("--lean", action="store_true", help="time with a lean client, not the SDK (HTTP only)")
    p.add_argument("name")
    p.add_argument("args")
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--concurrent", type=int, default=0)
    p.add_argument("--seconds", type=float, default=5.0)
    anyio.run(main, p.parse_args())
