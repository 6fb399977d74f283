/* {{name}}: a chitin skill in C. `chitin skill build` compiles it (wit-bindgen, clang,
 * wasm-tools); `make test` tests its tools natively. Guide: skills-sdk/guides/c.md in
 * the chitin repository. */
#include "chitin.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static chitin_status hello(const chitin_value *args, chitin_buf *out) {
    const char *name = chitin_get_string(args, "name");
    if (!name) return chitin_error(out, CHITIN_INVALID_INPUT, "`name` must be a string, like {\"name\": \"Ada\"}");
    if (!*name) return chitin_error(out, CHITIN_INVALID_INPUT, "`name` is empty");
    chitin_buf text = {0};
    chitin_buf_printf(&text, "Hello, %s!", name);
    chitin_buf_json_string(out, text.data, text.len);
    chitin_buf_free(&text);
    return CHITIN_OK;
}

static chitin_status line_count(const chitin_value *args, chitin_buf *out) {
    const char *path = chitin_get_string(args, "path");
    if (!path) return chitin_error(out, CHITIN_INVALID_INPUT, "`path` must be a string");
    /* `$WORKSPACE` is mounted at /workspace; relative paths are taken from there. */
    char full[4096];
    snprintf(full, sizeof full, "%s%s", path[0] == '/' ? "" : "/workspace/", path);
    FILE *f = fopen(full, "rb");
    if (!f) return chitin_errno_error(out, errno, full);
    long lines = 0;
    int c, last = '\n';
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') lines++;
        last = c;
    }
    if (last != '\n') lines++;
    fclose(f);
    chitin_buf_printf(out, "%ld", lines);
    return CHITIN_OK;
}

CHITIN_TOOLS(
    {"hello", "Greet someone by name",
     "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"description\":\"Who to greet\"}},\"required\":[\"name\"]}",
     hello},
    {"line_count", "Count the lines of a file in the workspace",
     "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"A file in the workspace, e.g. notes.md\"}},\"required\":[\"path\"]}",
     line_count},
)
