"""csv-stats: statistics over CSV files in the workspace (read-only).

Tools: ``columns`` (names, inferred types and a sample), ``summary`` (count, mean,
median, standard deviation, min, max and quartiles of numeric columns; distinct values
of the others), ``group_by`` (an aggregate of one column per value of another) and
``correlation`` (Pearson's r between two numeric columns).
"""

import csv
import math
import statistics

import chitin

tools = chitin.Tools()

PATH = {"type": "string", "description": "A CSV file in the workspace, e.g. data/sales.csv"}
COLUMN = {"type": "string", "description": "A column name from the header row"}
MAX_ROWS = 1_000_000


def load(path):
    """The header and the rows of a CSV file (delimiter sniffed)."""
    full = chitin.resolve(path)
    try:
        with open(full, newline="", encoding="utf-8", errors="replace") as f:
            sample = f.read(64 * 1024)
            f.seek(0)
            if sample.startswith("\ufeff"):  # a byte-order mark
                f.read(1)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
            except csv.Error:
                dialect = csv.excel
            reader = csv.reader(f, dialect)
            header = next(reader, None)
            if header is None:
                raise chitin.failed(f"{path} is empty")
            rows = []
            for row in reader:
                if not row:
                    continue
                rows.append(row)
                if len(rows) > MAX_ROWS:
                    raise chitin.failed(f"{path} has more than {MAX_ROWS} rows")
    except OSError as e:
        raise chitin.from_os_error(e, path) from None
    return [h.strip() for h in header], rows


def number(text):
    text = text.strip().replace("_", "")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def column_index(header, name):
    if name not in header:
        raise chitin.invalid_input(f"no column {name!r}; the columns are: {', '.join(header)}")
    return header.index(name)


def values(rows, index):
    return [row[index] if index < len(row) else "" for row in rows]


def numbers(cells):
    return [n for n in (number(c) for c in cells) if n is not None]


def is_numeric(cells):
    filled = [c for c in cells if c.strip()]
    return bool(filled) and len(numbers(filled)) == len(filled)


def describe_numbers(xs):
    xs = sorted(xs)
    out = {"count": len(xs), "mean": statistics.fmean(xs), "median": statistics.median(xs),
           "stdev": statistics.stdev(xs) if len(xs) > 1 else 0.0, "min": xs[0], "max": xs[-1],
           "sum": math.fsum(xs)}
    if len(xs) > 1:
        q1, _, q3 = statistics.quantiles(xs, n=4)
        out["q1"], out["q3"] = q1, q3
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in out.items()}


@tools.tool("columns", "The columns of a CSV file: name, inferred type and a few sample values",
            {"type": "object", "properties": {"path": PATH}, "required": ["path"]})
def columns(args):
    header, rows = load(args["path"])
    result = []
    for i, name in enumerate(header):
        cells = values(rows, i)
        result.append({"name": name, "type": "number" if is_numeric(cells) else "text",
                       "empty": sum(1 for c in cells if not c.strip()), "sample": cells[:3]})
    return {"rows": len(rows), "columns": result}


@tools.tool("summary", "Summary statistics of every column (or the ones named) of a CSV file",
            {"type": "object", "properties": {"path": PATH, "columns": {"type": "array", "items": COLUMN}},
             "required": ["path"]})
def summary(args):
    header, rows = load(args["path"])
    wanted = args.get("columns") or header
    result = {}
    for name in wanted:
        cells = values(rows, column_index(header, name))
        if is_numeric(cells):
            result[name] = describe_numbers(numbers(cells))
        else:
            filled = [c for c in cells if c.strip()]
            counts = {}
            for c in filled:
                counts[c] = counts.get(c, 0) + 1
            top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
            result[name] = {"count": len(filled), "distinct": len(counts),
                            "top": [{"value": v, "count": n} for v, n in top]}
    return {"rows": len(rows), "columns": result}


AGGREGATES = {"count": len, "sum": math.fsum, "mean": statistics.fmean, "median": statistics.median,
              "min": min, "max": max}


@tools.tool("group_by", "Aggregate a numeric column per value of another column",
            {"type": "object",
             "properties": {"path": PATH, "by": COLUMN, "column": COLUMN,
                            "aggregate": {"type": "string", "enum": sorted(AGGREGATES), "default": "sum"}},
             "required": ["path", "by", "column"]})
def group_by(args):
    header, rows = load(args["path"])
    by, col = column_index(header, args["by"]), column_index(header, args["column"])
    aggregate = args.get("aggregate", "sum")
    if aggregate not in AGGREGATES:
        raise chitin.invalid_input(f"aggregate must be one of {', '.join(sorted(AGGREGATES))}")
    groups = {}
    for row in rows:
        key = row[by] if by < len(row) else ""
        value = number(row[col]) if col < len(row) else None
        if value is not None:
            groups.setdefault(key, []).append(value)
    result = {k: round(AGGREGATES[aggregate](v), 6) for k, v in sorted(groups.items())}
    return {"by": args["by"], "column": args["column"], "aggregate": aggregate, "groups": result}


@tools.tool("correlation", "Pearson correlation between two numeric columns of a CSV file",
            {"type": "object", "properties": {"path": PATH, "x": COLUMN, "y": COLUMN},
             "required": ["path", "x", "y"]})
def correlation(args):
    header, rows = load(args["path"])
    xi, yi = column_index(header, args["x"]), column_index(header, args["y"])
    pairs = [(number(r[xi]), number(r[yi])) for r in rows if xi < len(r) and yi < len(r)]
    pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
    if len(pairs) < 2:
        raise chitin.failed("fewer than two rows have numbers in both columns")
    xs, ys = zip(*pairs)
    try:
        r = statistics.correlation(xs, ys)
    except statistics.StatisticsError as e:
        raise chitin.failed(str(e)) from None
    return {"x": args["x"], "y": args["y"], "n": len(pairs), "r": round(r, 6)}


Guest = tools.guest()
