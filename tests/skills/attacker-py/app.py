"""The attacker in Python: the primitives of the Rust attacker (tests/skills/attacker)
for the attack catalogue (tests/attacks.rs), written the way a Python skill would —
files through ``os`` (wasi-libc), HTTP through the raw ``wasi:http`` bindings (no URL
checks of the SDK), programs and logs through the chitin interfaces.

Every tool takes a JSON object; errors come back as tool errors (``denied`` when the
host refused, ``failed`` otherwise) naming the operation and its target.
"""

import os
import sys
import time

import chitin

try:  # Imported at build time, so that componentize-py snapshots them.
    from componentize_py_types import Err as _Err
    from wit_world.imports import monotonic_clock as _clock
except ImportError:  # natively
    _Err = Exception
    _clock = None

ht = chitin._http_types
handler = chitin._outgoing_handler
streams = chitin._streams

tools = chitin.Tools()
OBJECT = {"type": "object"}
SHOWN = 16 << 10


def tool(name, description):
    return tools.tool(name, description, OBJECT)


def bytes_json(data):
    shown = data[:SHOWN]
    return {"len": len(data), "text": shown.decode("utf-8", "replace"), "hex": shown.hex()}


def os_error(op, path, e):
    return chitin.from_os_error(e, f"{op} {path}")


# ------------------------------------------------------------------ files


@tool("noop", 'Do nothing and return "ok"')
def noop(a):
    return "ok"


@tool("echo", "Return `text`")
def echo(a):
    return a.get("text", "")


def write_bytes(f, total, data):
    filler = b"A" * 65536
    written = 0
    while written < total:
        if data:
            start = written % len(data)
            chunk = data[start:start + total - written]
        else:
            chunk = filler[:total - written]
        f.write(chunk)
        written += len(chunk)
    f.flush()
    return written


@tool("fs", "One filesystem operation `op` on `path`")
def fs(a):
    op, path = a.get("op"), a.get("path", "")
    try:
        return _fs(op, path, a)
    except OSError as e:
        raise os_error(op, path, e) from None


def _fs(op, path, a):
    if op == "read":
        with open(path, "rb") as f:
            return bytes_json(f.read(a.get("max", 1 << 20)))
    if op == "write":
        data = a.get("data", "").encode()
        with open(path, "wb") as f:
            return {"written": write_bytes(f, a.get("bytes", len(data)), data)}
    if op == "write_many":
        for n in range(a.get("count", 1)):
            with open(f"{path}/f{n}", "wb") as f:
                write_bytes(f, a.get("bytes", 1), b"")
        return {"created": a.get("count", 1)}
    if op == "mkdir":
        os.mkdir(path)
    elif op == "rmdir":
        os.rmdir(path)
    elif op == "remove":
        os.remove(path)
    elif op == "rename":
        os.rename(path, a["to"])
    elif op == "link":
        os.link(path, a["to"])
    elif op == "symlink":
        os.symlink(a["target"], path)
    elif op == "readlink":
        return os.readlink(path)
    elif op == "set_times":
        os.utime(path, None)
    elif op == "set_times_fd":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.utime(fd, None)
        finally:
            os.close(fd)
    elif op in ("set_size", "set_size_rw"):
        flags = os.O_RDONLY if op == "set_size" else os.O_WRONLY | os.O_CREAT
        fd = os.open(path, flags)
        try:
            os.ftruncate(fd, a.get("size", 0))
        finally:
            os.close(fd)
    elif op == "stat":
        import stat as s
        st = os.stat(path)
        kind = ("dir" if s.S_ISDIR(st.st_mode) else "file" if s.S_ISREG(st.st_mode)
                else "fifo" if s.S_ISFIFO(st.st_mode) else "other")
        return {"kind": kind, "size": st.st_size}
    elif op == "list":
        return sorted(os.listdir(path))
    elif op == "deny_loop":
        refused = opened = 0
        last = None
        for _ in range(a.get("times", 1)):
            try:
                os.close(os.open(path, os.O_RDONLY))
                opened += 1
            except OSError as e:
                refused += 1
                last = e
        if opened == 0 and last is not None:
            raise os_error(f"open (refused {refused} times)", path, last)
        return {"refused": refused, "opened": opened}
    else:
        raise chitin.invalid_input(f"unknown fs op `{op}`")
    return "ok"


@tool("fs_batch", "Several `fs` operations (`ops`) in one call; each one's result or error")
def fs_batch(a):
    out = []
    for op in a.get("ops", []):
        try:
            out.append(fs(op))
        except chitin.ToolError as e:
            out.append({"error": f"{e.kind}: {e.message}"})
        except Exception as e:  # noqa: BLE001 - reported, the batch goes on
            out.append({"error": f"{type(e).__name__}: {e}"})
    return out


# ------------------------------------------------------------------ HTTP


def sleep_ms(ms):
    if _clock is not None:
        _clock.subscribe_duration(ms * 1_000_000).block()
    else:
        time.sleep(ms / 1000)


METHODS = {"GET": "Method_Get", "HEAD": "Method_Head", "POST": "Method_Post",
           "PUT": "Method_Put", "DELETE": "Method_Delete", "OPTIONS": "Method_Options",
           "TRACE": "Method_Trace", "PATCH": "Method_Patch", "CONNECT": "Method_Connect"}


def send(method, url, headers, body, slow=None, limit=1 << 20):
    """One request exactly as given: no URL checks, any method, authority and path."""
    scheme, _, rest = url.partition("://")
    if not rest:
        scheme, rest = "http", url
    end = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0] or [len(rest)])
    authority, path = rest[:end], rest[end:] or "/"
    try:
        fields = ht.Fields.from_list([(n, v.encode()) for n, v in headers])
    except _Err as e:
        raise chitin.invalid_input(f"header: {type(e.value).__name__}") from None
    req = ht.OutgoingRequest(fields)
    m = method.upper()
    req.set_method(getattr(ht, METHODS[m])() if m in METHODS else ht.Method_Other(method))
    if scheme == "http":
        req.set_scheme(ht.Scheme_Http())
    elif scheme == "https":
        req.set_scheme(ht.Scheme_Https())
    else:
        req.set_scheme(ht.Scheme_Other(scheme))
    try:
        req.set_authority(authority)
        req.set_path_with_query(path)
    except _Err:
        raise chitin.invalid_input(f"{url}: invalid authority or path") from None
    out_body = req.body()
    try:
        future = handler.handle(req, None)
    except _Err as e:
        raise chitin._http_error(e.value, url) from None
    with future:
        write_error = None
        try:
            if body:
                with out_body.write() as stream:
                    step = 1 if slow else 4096
                    for i in range(0, len(body), step):
                        stream.blocking_write_and_flush(body[i:i + step])
                        if slow:
                            sleep_ms(slow)
            ht.OutgoingBody.finish(out_body, None)
        except _Err as e:
            write_error = e
        while True:
            answer = future.get()
            if answer is None:
                with future.subscribe() as p:
                    p.block()
                continue
            break
    if isinstance(answer, _Err):
        raise chitin.failed(f"{url}: no response")
    inner = answer.value
    if isinstance(inner, _Err):
        raise chitin._http_error(inner.value, url)
    if write_error is not None:
        raise chitin.failed(f"{url}: sending the body failed")
    with inner.value as response:
        status = response.status()
        with response.headers() as f:
            resp_headers = [[n, v.decode("utf-8", "replace")] for n, v in f.entries()]
        incoming = response.consume()
        chunks, size = [], 0
        with incoming.stream() as stream:
            while size < limit:
                try:
                    chunk = stream.blocking_read(min(65536, limit - size))
                except _Err as e:
                    if isinstance(e.value, streams.StreamError_Closed):
                        break
                    raise chitin.failed(f"{url}: reading the body failed") from None
                size += len(chunk)
                chunks.append(chunk)
        ht.IncomingBody.finish(incoming)
    return status, resp_headers, b"".join(chunks)


def join_parts(body):
    out = []
    for part in body.decode("utf-8", "replace").split("\r\n--")[1:]:
        if "\r\n\r\n" in part:
            out.append(part.split("\r\n\r\n", 1)[1])
    return "".join(out).encode()


@tool("http", "One raw HTTP request")
def http(a):
    body = a.get("body", "").encode()
    if "body_bytes" in a:
        body = b"B" * a["body_bytes"]
    status, headers, data = send(a.get("method", "GET"), a["url"], a.get("headers", []), body,
                                 a.get("slow_ms"), a.get("max", 1 << 20))
    if a.get("multipart"):
        data = join_parts(data)
    return {"status": status, "headers": headers, "body": bytes_json(data)}


@tool("http_ranges", "GET `url` in `chunk`-byte ranges and join them")
def http_ranges(a):
    chunk, total = max(1, a.get("chunk", 8)), a.get("total", 4096)
    joined, statuses, start = b"", [], 0
    while start < total:
        status, _, data = send("GET", a["url"], [("range", f"bytes={start}-{start + chunk - 1}")], b"")
        statuses.append(status)
        if status != 206 or not data:
            if status != 206:
                joined += data
            break
        joined += data
        start += chunk
    return {"statuses": statuses, "body": bytes_json(joined)}


# ------------------------------------------------------------------ programs, output


@tool("exec", "Run `program` with `args` in `cwd`")
def run(a):
    out = chitin.run(a["program"], a.get("args", []), a.get("cwd"))
    return {"status": out.status, "stdout": out.stdout_text(), "stderr": out.stderr_text(),
            "truncated": out.truncated}


@tool("log", "Log `count` lines of `size` bytes (or `text`)")
def log(a):
    line = a.get("text") or "L" * a.get("size", 10)
    for _ in range(a.get("count", 1)):
        chitin.log.info(line)
    return {"logged": a.get("count", 1)}


@tool("flood", "Write `bytes` bytes to `stream`")
def flood(a):
    out = sys.stderr if a.get("stream") == "stderr" else sys.stdout
    chunk, total, written = b"F" * 65536, a.get("bytes", 1), 0
    try:
        while written < total:
            n = min(len(chunk), total - written)
            out.buffer.write(chunk[:n])
            written += n
        out.buffer.flush()
    except OSError as e:
        raise chitin.failed(f"after {written} bytes: {e}") from None
    return {"written": written}


# ------------------------------------------------------------------ resources


@tool("alloc", "Allocate and touch `mib` MiB")
def alloc(a):
    block = bytearray(a.get("mib", 1) << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return {"mib": a.get("mib", 1)}


@tool("spin", "Loop forever")
def spin(a):
    n = 0
    while True:
        n += 1


@tool("recurse", "Recurse `depth` frames deep")
def recurse(a):
    sys.setrecursionlimit(1 << 30)

    def down(n):
        return 0 if n == 0 else down(n - 1) + 1

    return down(a.get("depth", 1 << 30))


@tool("sleep", "Block in the host for `ms` milliseconds")
def sleep(a):
    sleep_ms(a.get("ms", 1000))
    return "slept"


@tool("result", "Return a string of `bytes` bytes")
def result(a):
    return "x" * a.get("bytes", 1)


@tool("json_bomb", "Return `depth` nested JSON arrays as the raw result")
def json_bomb(a):
    raise AssertionError("answered by Guest.invoke")


@tool("fail", "Return the error `kind` with `message`")
def fail(a):
    raise chitin.ToolError(a.get("kind", "failed"), a.get("message", ""))


@tool("env_all", "All visible environment variables")
def env_all(a):
    return sorted(os.environ.items())


@tool("resources", "Create `count` host resources of `kind` and never drop them")
def resources(a):
    kept, kind = [], a.get("kind")
    for _ in range(a.get("count", 1)):
        if kind == "fields":
            kept.append(ht.Fields())
        elif kind == "pollables":
            kept.append(_clock.subscribe_duration(1 << 40))
        elif kind == "requests":
            kept.append(ht.OutgoingRequest(ht.Fields()))
        elif kind == "descriptors":
            try:
                kept.append(os.open(a["path"], os.O_RDONLY))
            except OSError as e:
                return {"made": len(kept), "stopped_by": str(e)}
        else:
            raise chitin.invalid_input(f"unknown kind `{kind}`")
    return {"made": len(kept)}


_Base = tools.guest()


class Guest(_Base):
    def invoke(self, tool, args_json):
        if tool == "json_bomb":
            import json
            depth = json.loads(args_json or "{}").get("depth", 100_000)
            return "[" * depth + "]" * depth
        return super().invoke(tool, args_json)
