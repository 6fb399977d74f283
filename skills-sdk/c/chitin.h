/* chitin.h — write chitin skills in C (wit-bindgen, clang, wasm-tools).
 *
 * A skill is a table of tools, each a function from parsed JSON arguments to JSON text:
 *
 *     #include "chitin.h"
 *
 *     static chitin_status hello(const chitin_value *args, chitin_buf *out) {
 *         const char *name = chitin_get_string(args, "name");
 *         if (!name) return chitin_error(out, CHITIN_INVALID_INPUT, "`name` is required");
 *         chitin_buf_append_str(out, "\"hello ");
 *         ...
 *         return CHITIN_OK;
 *     }
 *
 *     CHITIN_TOOLS(
 *         {"hello", "Say hello", "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}", hello},
 *     )
 *
 * `chitin skill build` supplies chitin.h and chitin.c when the project has none (a
 * copy in the project, as `chitin skill new` writes it, takes precedence), generates
 * the WIT bindings, compiles with clang for wasm32-wasi and wraps the result as a
 * component. Guide: skills-sdk/guides/c.md.
 *
 * Files are plain stdio/POSIX (through the granted folders), environment variables
 * plain getenv (only declared ones exist), programs chitin_exec(); there is no HTTP
 * client for C (see the guide). Each call runs in a fresh instance.
 *
 * Compiled natively (without __wasm__), the same code links for tests: call
 * chitin_invoke(); chitin_exec() fails there.
 */
#ifndef CHITIN_H
#define CHITIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ JSON values */

typedef enum {
    CHITIN_JSON_NULL,
    CHITIN_JSON_BOOL,
    CHITIN_JSON_NUMBER,
    CHITIN_JSON_STRING,
    CHITIN_JSON_ARRAY,
    CHITIN_JSON_OBJECT,
} chitin_json_kind;

/* A parsed JSON value. Strings are NUL-terminated UTF-8 (`len` bytes, which may
 * include NULs); arrays and objects have `len` items (objects also `keys`). */
typedef struct chitin_value {
    chitin_json_kind kind;
    bool boolean;
    double number;
    char *string;
    size_t len;
    struct chitin_value *items;
    char **keys;
} chitin_value;

/* Parse `len` bytes of JSON into a new value; NULL on a syntax error. */
chitin_value *chitin_json_parse(const char *text, size_t len);
void chitin_json_free(chitin_value *value);

/* Member `key` of an object, or NULL (also when `obj` is not an object). */
const chitin_value *chitin_get(const chitin_value *obj, const char *key);
/* Member `key` as a string, or NULL when absent or not a string. */
const char *chitin_get_string(const chitin_value *obj, const char *key);
/* Member `key` as a number into *out; false when absent or not a number. */
bool chitin_get_number(const chitin_value *obj, const char *key, double *out);

/* ------------------------------------------------------------------ output */

/* A growable byte buffer: a tool's JSON result, or its error message. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} chitin_buf;

void chitin_buf_append(chitin_buf *b, const char *bytes, size_t n);
void chitin_buf_append_str(chitin_buf *b, const char *s);
void chitin_buf_printf(chitin_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append `n` bytes as a JSON string literal, quotes and escapes included. */
void chitin_buf_json_string(chitin_buf *b, const char *s, size_t n);
void chitin_buf_free(chitin_buf *b);

/* ------------------------------------------------------------------ tools */

/* A tool's outcome; the error kinds are the WIT `error` variant, passed to the model. */
typedef enum {
    CHITIN_OK = 0,
    /* The arguments are unusable. */
    CHITIN_INVALID_INPUT,
    /* The host refused a capability the tool needed. */
    CHITIN_DENIED,
    /* Anything else. */
    CHITIN_FAILED,
} chitin_status;

/* A tool: writes its JSON result to `out` and returns CHITIN_OK, or writes a message
 * and returns an error kind (see chitin_error). `args` is the arguments object. */
typedef chitin_status (*chitin_tool_fn)(const chitin_value *args, chitin_buf *out);

typedef struct {
    const char *name;
    const char *description;
    /* JSON Schema of the arguments object, as JSON text. */
    const char *input_schema;
    chitin_tool_fn fn;
} chitin_tool;

/* Declare the skill's tools, once, at file scope. */
#define CHITIN_TOOLS(...)                                                           \
    const chitin_tool chitin_tools[] = {__VA_ARGS__};                              \
    const size_t chitin_tool_count = sizeof(chitin_tools) / sizeof(chitin_tools[0]);

extern const chitin_tool chitin_tools[];
extern const size_t chitin_tool_count;

/* Replace `out` with a formatted message and return `kind`:
 * `return chitin_error(out, CHITIN_INVALID_INPUT, "`%s` is required", "path");` */
chitin_status chitin_error(chitin_buf *out, chitin_status kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An errno value as an error: a refusal by the sandbox (EACCES, EPERM, EROFS,
 * ENOTCAPABLE) is CHITIN_DENIED, anything else CHITIN_FAILED. */
chitin_status chitin_errno_error(chitin_buf *out, int err, const char *what);

/* Run tool `name` with `args_json`, as the host does: the result or message in `out`. */
chitin_status chitin_invoke(const char *name, const char *args_json, size_t args_len, chitin_buf *out);

/* ------------------------------------------------------------------ host services */

typedef enum { CHITIN_TRACE, CHITIN_DEBUG, CHITIN_INFO, CHITIN_WARN, CHITIN_ERROR } chitin_level;
/* A line in the host's log, recorded with the skill's name. */
void chitin_log(chitin_level level, const char *message);

typedef struct {
    bool has_status;
    int status;
    chitin_buf stdout_buf;
    chitin_buf stderr_buf;
    bool truncated;
} chitin_output;

/* Run a program declared in the manifest's `exec`, with `argc` arguments, in `cwd`
 * (a granted folder as the skill sees it, or NULL for the first). On a refusal or
 * failure, returns the kind and writes the message to `err`. Needs `exec` in
 * skill.toml (the build defines CHITIN_HAS_EXEC then). */
chitin_status chitin_exec(const char *program, const char *const *argv, size_t argc, const char *cwd,
                          chitin_output *output, chitin_buf *err);
void chitin_output_free(chitin_output *output);

#ifdef __cplusplus
}
#endif

#endif /* CHITIN_H */
