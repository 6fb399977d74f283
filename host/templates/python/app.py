"""{{name}}: a chitin skill in Python. `chitin skill build` compiles it with
componentize-py; `python3 -m unittest` tests its tools natively. Guide:
skills-sdk/guides/python.md in the chitin repository."""

import chitin

tools = chitin.Tools()


@tools.tool("hello", "Greet someone by name",
            {"type": "object", "properties": {"name": {"type": "string", "description": "Who to greet"}},
             "required": ["name"]})
def hello(args):
    if not isinstance(args.get("name"), str):
        raise chitin.invalid_input('`name` must be a string, like {"name": "Ada"}')
    name = args["name"].strip()
    if not name:
        raise chitin.invalid_input("`name` is empty")
    return f"Hello, {name}!"


@tools.tool("line_count", "Count the lines of a file in the workspace",
            {"type": "object",
             "properties": {"path": {"type": "string", "description": "A file in the workspace, e.g. notes.md"}},
             "required": ["path"]})
def line_count(args):
    # `$WORKSPACE` is mounted at /workspace; relative paths are taken from there.
    with open(chitin.resolve(args["path"]), encoding="utf-8", errors="replace") as f:
        return sum(1 for _ in f)


# The class componentize-py exports as the skill's `guest` interface.
Guest = tools.guest()
