"""The probe in Python: the same tools as the Rust probe (tests/skills/probe), for the
capability matrix (tests/capability_matrix.rs) and the benchmark. I/O errors come back as
tool errors (``denied`` when the sandbox refused, ``failed`` otherwise); ``spin``,
``alloc`` and ``flood_stdout`` misbehave on purpose."""

import os
import sys

import chitin

tools = chitin.Tools()


def schema(required=(), **properties):
    return {"type": "object", "properties": properties, "required": list(required)}


STR = {"type": "string"}
INT = {"type": "integer", "minimum": 0}


@tools.tool("noop", 'Do nothing and return "ok"', schema())
def noop(args):
    return "ok"


@tools.tool("echo", "Return the text given", schema(["text"], text=STR))
def echo(args):
    return args["text"]


@tools.tool("read_file", "Read a file as text", schema(["path"], path=STR))
def read_file(args):
    with open(args["path"], "rb") as f:
        return f.read().decode("utf-8", "replace")


@tools.tool("write_file", "Write a text file (created or truncated)",
            schema(["path", "content"], path=STR, content=STR))
def write_file(args):
    with open(args["path"], "w") as f:
        f.write(args["content"])
    return {"written": len(args["content"])}


@tools.tool("list_dir", "List the names in a directory, sorted", schema(["path"], path=STR))
def list_dir(args):
    return sorted(os.listdir(args["path"]))


@tools.tool("stat", "Describe a file or directory", schema(["path"], path=STR))
def stat(args):
    link = os.lstat(args["path"])
    meta = os.stat(args["path"])
    import stat as s
    kind = "dir" if s.S_ISDIR(meta.st_mode) else "file" if s.S_ISREG(meta.st_mode) else "other"
    return {"kind": kind, "len": meta.st_size, "readonly": not (meta.st_mode & 0o222),
            "symlink": s.S_ISLNK(link.st_mode)}


@tools.tool("http", "Send an HTTP request (redirects followed)",
            schema(["url"], url=STR, method=STR, headers={"type": "object"}, body=STR))
def http(args):
    r = chitin.request(args.get("method") or "GET", args["url"], args.get("headers"), args.get("body"))
    headers = {}
    for name, value in r.headers:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return {"status": r.status, "headers": headers, "body": r.text(), "url": r.url}


@tools.tool("exec", "Run a program through the host",
            schema(["program", "args"], program=STR, args={"type": "array", "items": STR}, cwd=STR))
def run(args):
    out = chitin.run(args["program"], args["args"], args.get("cwd"))
    return {"status": out.status, "stdout": out.stdout_text(), "stderr": out.stderr_text(),
            "truncated": out.truncated}


@tools.tool("env", "Read one environment variable (null when unset)", schema(["name"], name=STR))
def env(args):
    return os.environ.get(args["name"])


@tools.tool("env_all", "All visible environment variables", schema())
def env_all(args):
    return dict(os.environ)


@tools.tool("spin", "Loop forever", schema())
def spin(args):
    n = 0
    while True:
        n += 1


@tools.tool("alloc", "Allocate and touch this many MiB", schema(["mib"], mib=INT))
def alloc(args):
    # A memory bomb: past the limit the host refuses to grow memory and stops the call.
    size = args["mib"] << 20
    block = bytearray(size)
    checksum = 0
    for i in range(0, size, 4096):
        block[i] = ((i >> 12) & 0xFF) | 1
        checksum += block[i]
    return {"mib": args["mib"], "checksum": checksum}


@tools.tool("flood_stdout", "Print this many bytes to stdout", schema(["bytes"], bytes=INT))
def flood_stdout(args):
    chunk = b"A" * 65536
    written = 0
    try:
        while written < args["bytes"]:
            n = min(len(chunk), args["bytes"] - written)
            sys.stdout.buffer.write(chunk[:n])
            written += n
        sys.stdout.buffer.flush()
    except OSError as e:
        raise chitin.failed(f"stdout after {written} bytes: {e}") from None
    return {"written": written}


@tools.tool("big_result", "Return a string of this many bytes", schema(["bytes"], bytes=INT))
def big_result(args):
    return "x" * args["bytes"]


@tools.tool("read_loop", "Read a file repeatedly; distinct contents seen",
            schema(["path", "times"], path=STR, times=INT))
def read_loop(args):
    seen, last = [], None
    for _ in range(args["times"]):
        try:
            with open(args["path"], "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError as e:
            last = e
            continue
        if text not in seen:
            seen.append(text)
    if not seen and last is not None:
        raise chitin.from_os_error(last, f"read {args['path']}")
    return seen


@tools.tool("connect", "Open a raw TCP connection and send a request (Python only: CPython's "
            "libc imports wasi:sockets; componentize-py's stdlib has no `socket` module, and "
            "the host refuses every address anyway)",
            schema(["host", "port"], host=STR, port=INT))
def connect(args):
    import socket

    with socket.create_connection((args["host"], args["port"]), timeout=2) as s:
        s.sendall(b"GET /raw-socket HTTP/1.0\r\n\r\n")
        return s.recv(100).decode("utf-8", "replace")


Guest = tools.guest()
