/* chitin.c — the C SDK: JSON, buffers, the tool dispatcher and the host services.
 * See chitin.h. Inside WebAssembly it implements the component's `chitin:skill/guest`
 * export over the bindings `wit-bindgen c` generates (skill_build.h, from the world
 * `chitin skill build` derives from skill.toml). */
#include "chitin.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __wasm__
#include "skill_build.h"
#endif

/* ------------------------------------------------------------------ buffers */

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    /* Out of memory: trap, so the host reports its memory limit. */
    if (!q) abort();
    return q;
}

void chitin_buf_append(chitin_buf *b, const char *bytes, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void chitin_buf_append_str(chitin_buf *b, const char *s) { chitin_buf_append(b, s, strlen(s)); }

static void buf_vprintf(chitin_buf *b, const char *fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n <= 0) return;
    char *tmp = xrealloc(NULL, (size_t)n + 1);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap);
    chitin_buf_append(b, tmp, (size_t)n);
    free(tmp);
}

void chitin_buf_printf(chitin_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void chitin_buf_json_string(chitin_buf *b, const char *s, size_t n) {
    chitin_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': chitin_buf_append(b, "\\\"", 2); break;
        case '\\': chitin_buf_append(b, "\\\\", 2); break;
        case '\n': chitin_buf_append(b, "\\n", 2); break;
        case '\r': chitin_buf_append(b, "\\r", 2); break;
        case '\t': chitin_buf_append(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                chitin_buf_printf(b, "\\u%04x", c);
            } else {
                chitin_buf_append(b, (const char *)&s[i], 1);
            }
        }
    }
    chitin_buf_append(b, "\"", 1);
}

void chitin_buf_free(chitin_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------ JSON parsing */

typedef struct {
    const char *p;
    const char *end;
    int depth;
} parser;

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t')) ps->p++;
}

static bool parse_value(parser *ps, chitin_value *v);

static int hex4(const char *p) {
    int x = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        x <<= 4;
        if (c >= '0' && c <= '9') x |= c - '0';
        else if (c >= 'a' && c <= 'f') x |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') x |= c - 'A' + 10;
        else return -1;
    }
    return x;
}

static void utf8(chitin_buf *b, uint32_t cp) {
    char o[4];
    size_t n;
    if (cp < 0x80) { o[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    chitin_buf_append(b, o, n);
}

/* A string literal at ps->p (the opening quote) into a new NUL-terminated buffer. */
static bool parse_string(parser *ps, char **out, size_t *len) {
    chitin_buf b = {0};
    ps->p++;
    while (ps->p < ps->end && *ps->p != '"') {
        char c = *ps->p++;
        if ((unsigned char)c < 0x20) goto fail;
        if (c != '\\') { chitin_buf_append(&b, &c, 1); continue; }
        if (ps->p >= ps->end) goto fail;
        char e = *ps->p++;
        switch (e) {
        case '"': case '\\': case '/': chitin_buf_append(&b, &e, 1); break;
        case 'b': chitin_buf_append(&b, "\b", 1); break;
        case 'f': chitin_buf_append(&b, "\f", 1); break;
        case 'n': chitin_buf_append(&b, "\n", 1); break;
        case 'r': chitin_buf_append(&b, "\r", 1); break;
        case 't': chitin_buf_append(&b, "\t", 1); break;
        case 'u': {
            if (ps->end - ps->p < 4) goto fail;
            int cp = hex4(ps->p);
            if (cp < 0) goto fail;
            ps->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                int lo = hex4(ps->p + 2);
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    ps->p += 6;
                }
            }
            utf8(&b, (uint32_t)cp);
            break;
        }
        default: goto fail;
        }
    }
    if (ps->p >= ps->end) goto fail;
    ps->p++;
    if (!b.data) chitin_buf_append(&b, "", 0);
    *out = b.data;
    *len = b.len;
    return true;
fail:
    chitin_buf_free(&b);
    return false;
}

static bool literal(parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return false;
    ps->p += n;
    return true;
}

static void free_value(chitin_value *v) {
    free(v->string);
    for (size_t i = 0; i < v->len && (v->items || v->keys); i++) {
        if (v->items) free_value(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
}

static bool parse_container(parser *ps, chitin_value *v, bool object) {
    char close = object ? '}' : ']';
    size_t cap = 0;
    v->kind = object ? CHITIN_JSON_OBJECT : CHITIN_JSON_ARRAY;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) { ps->p++; return true; }
    for (;;) {
        if (v->len == cap) {
            cap = cap ? cap * 2 : 4;
            v->items = xrealloc(v->items, cap * sizeof(chitin_value));
            if (object) v->keys = xrealloc(v->keys, cap * sizeof(char *));
        }
        memset(&v->items[v->len], 0, sizeof(chitin_value));
        if (object) {
            size_t klen;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"' || !parse_string(ps, &v->keys[v->len], &klen)) return false;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') { free(v->keys[v->len]); return false; }
            ps->p++;
        }
        if (!parse_value(ps, &v->items[v->len])) {
            free_value(&v->items[v->len]);
            if (object) free(v->keys[v->len]);
            return false;
        }
        v->len++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
        if (ps->p < ps->end && *ps->p == close) { ps->p++; return true; }
        return false;
    }
}

static bool parse_value(parser *ps, chitin_value *v) {
    skip_ws(ps);
    if (ps->p >= ps->end || ++ps->depth > 64) return false;
    bool ok;
    char c = *ps->p;
    if (c == '{' || c == '[') {
        ok = parse_container(ps, v, c == '{');
    } else if (c == '"') {
        v->kind = CHITIN_JSON_STRING;
        ok = parse_string(ps, &v->string, &v->len);
    } else if (literal(ps, "true")) {
        v->kind = CHITIN_JSON_BOOL; v->boolean = true; ok = true;
    } else if (literal(ps, "false")) {
        v->kind = CHITIN_JSON_BOOL; ok = true;
    } else if (literal(ps, "null")) {
        v->kind = CHITIN_JSON_NULL; ok = true;
    } else {
        /* strtod needs a terminated string: copy the number's characters. */
        char tmp[64];
        size_t n = 0;
        while (ps->p + n < ps->end && n < sizeof tmp - 1 && strchr("+-0123456789.eE", ps->p[n])) n++;
        memcpy(tmp, ps->p, n);
        tmp[n] = '\0';
        char *endp;
        v->kind = CHITIN_JSON_NUMBER;
        v->number = strtod(tmp, &endp);
        ok = n > 0 && endp == tmp + n;
        ps->p += n;
    }
    ps->depth--;
    return ok;
}

chitin_value *chitin_json_parse(const char *text, size_t len) {
    parser ps = {text, text + len, 0};
    chitin_value *v = calloc(1, sizeof *v);
    if (!v) abort();
    bool ok = parse_value(&ps, v);
    skip_ws(&ps);
    if (!ok || ps.p != ps.end) {
        chitin_json_free(v);
        return NULL;
    }
    return v;
}

void chitin_json_free(chitin_value *v) {
    if (!v) return;
    free_value(v);
    free(v);
}

const chitin_value *chitin_get(const chitin_value *obj, const char *key) {
    if (!obj || obj->kind != CHITIN_JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->len; i++) {
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    }
    return NULL;
}

const char *chitin_get_string(const chitin_value *obj, const char *key) {
    const chitin_value *v = chitin_get(obj, key);
    return v && v->kind == CHITIN_JSON_STRING ? v->string : NULL;
}

bool chitin_get_number(const chitin_value *obj, const char *key, double *out) {
    const chitin_value *v = chitin_get(obj, key);
    if (!v || v->kind != CHITIN_JSON_NUMBER) return false;
    *out = v->number;
    return true;
}

/* ------------------------------------------------------------------ errors and dispatch */

chitin_status chitin_error(chitin_buf *out, chitin_status kind, const char *fmt, ...) {
    out->len = 0;
    chitin_buf_append(out, "", 0);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(out, fmt, ap);
    va_end(ap);
    return kind;
}

#ifndef ENOTCAPABLE
#define ENOTCAPABLE 76
#endif

chitin_status chitin_errno_error(chitin_buf *out, int err, const char *what) {
    bool refused = err == EACCES || err == EPERM || err == EROFS || err == ENOTCAPABLE;
    return chitin_error(out, refused ? CHITIN_DENIED : CHITIN_FAILED, "%s: %s", what, strerror(err));
}

chitin_status chitin_invoke(const char *name, const char *args_json, size_t args_len, chitin_buf *out) {
    const chitin_tool *tool = NULL;
    for (size_t i = 0; i < chitin_tool_count; i++) {
        if (strcmp(chitin_tools[i].name, name) == 0) tool = &chitin_tools[i];
    }
    if (!tool) {
        chitin_error(out, CHITIN_INVALID_INPUT, "unknown tool `%s`; this skill has:", name);
        for (size_t i = 0; i < chitin_tool_count; i++) chitin_buf_printf(out, "%s %s", i ? "," : "", chitin_tools[i].name);
        return CHITIN_INVALID_INPUT;
    }
    chitin_value *args = chitin_json_parse(args_json, args_len);
    if (!args || args->kind != CHITIN_JSON_OBJECT) {
        chitin_json_free(args);
        return chitin_error(out, CHITIN_INVALID_INPUT, "the arguments must be a JSON object");
    }
    /* Check the schema's `required` list: the tool can rely on those members. */
    chitin_value *schema = chitin_json_parse(tool->input_schema, strlen(tool->input_schema));
    const chitin_value *required = chitin_get(schema, "required");
    for (size_t i = 0; required && required->kind == CHITIN_JSON_ARRAY && i < required->len; i++) {
        const chitin_value *key = &required->items[i];
        if (key->kind == CHITIN_JSON_STRING && !chitin_get(args, key->string)) {
            chitin_error(out, CHITIN_INVALID_INPUT, "missing field `%s`", key->string);
            chitin_json_free(schema);
            chitin_json_free(args);
            return CHITIN_INVALID_INPUT;
        }
    }
    chitin_json_free(schema);
    out->len = 0;
    chitin_status status = tool->fn(args, out);
    chitin_json_free(args);
    if (status == CHITIN_OK && out->len == 0) chitin_buf_append_str(out, "null");
    return status;
}

void chitin_output_free(chitin_output *o) {
    chitin_buf_free(&o->stdout_buf);
    chitin_buf_free(&o->stderr_buf);
}

#ifdef __wasm__
/* ------------------------------------------------------------------ the component */

static void set_string(skill_build_string_t *s, const char *text) { skill_build_string_dup(s, text); }

void exports_chitin_skill_guest_describe(exports_chitin_skill_guest_list_tool_spec_t *ret) {
    ret->len = chitin_tool_count;
    ret->ptr = calloc(chitin_tool_count ? chitin_tool_count : 1, sizeof *ret->ptr);
    if (!ret->ptr) abort();
    for (size_t i = 0; i < chitin_tool_count; i++) {
        set_string(&ret->ptr[i].name, chitin_tools[i].name);
        set_string(&ret->ptr[i].description, chitin_tools[i].description);
        set_string(&ret->ptr[i].input_schema, chitin_tools[i].input_schema);
    }
}

bool exports_chitin_skill_guest_invoke(skill_build_string_t *tool, skill_build_string_t *args_json,
                                       skill_build_string_t *ret, exports_chitin_skill_guest_error_t *err) {
    char *name = xrealloc(NULL, tool->len + 1);
    memcpy(name, tool->ptr, tool->len);
    name[tool->len] = '\0';
    chitin_buf out = {0};
    chitin_status status = chitin_invoke(name, (const char *)args_json->ptr, args_json->len, &out);
    free(name);
    skill_build_string_free(tool);
    skill_build_string_free(args_json);
    /* Ownership of the buffer passes to the bindings, which free it after the call. */
    skill_build_string_t text = {(uint8_t *)out.data, out.len};
    if (!out.data) skill_build_string_dup(&text, "");
    if (status == CHITIN_OK) {
        *ret = text;
        return true;
    }
    switch (status) {
    case CHITIN_INVALID_INPUT: err->tag = CHITIN_SKILL_TYPES_ERROR_INVALID_INPUT; err->val.invalid_input = text; break;
    case CHITIN_DENIED: err->tag = CHITIN_SKILL_TYPES_ERROR_DENIED; err->val.denied = text; break;
    default: err->tag = CHITIN_SKILL_TYPES_ERROR_FAILED; err->val.failed = text; break;
    }
    return false;
}

void chitin_log(chitin_level level, const char *message) {
    skill_build_string_t m;
    skill_build_string_set(&m, message);
    chitin_skill_log_log((chitin_skill_log_level_t)level, &m);
}

#ifdef CHITIN_HAS_EXEC
/* wasi-libc defines `stdout` and `stderr` as macros too, which breaks the generated
 * `output` record's fields of the same names; the variables remain. */
#undef stdout
#undef stderr

chitin_status chitin_exec(const char *program, const char *const *argv, size_t argc, const char *cwd,
                          chitin_output *output, chitin_buf *err) {
    skill_build_string_t prog;
    skill_build_string_set(&prog, program);
    skill_build_list_string_t args;
    args.len = argc;
    args.ptr = calloc(argc ? argc : 1, sizeof(skill_build_string_t));
    if (!args.ptr) abort();
    for (size_t i = 0; i < argc; i++) skill_build_string_set(&args.ptr[i], argv[i]);
    skill_build_string_t dir;
    if (cwd) skill_build_string_set(&dir, cwd);
    chitin_skill_exec_output_t out;
    chitin_skill_exec_error_t e;
    bool ok = chitin_skill_exec_run(&prog, &args, cwd ? &dir : NULL, &out, &e);
    free(args.ptr);
    memset(output, 0, sizeof *output);
    if (!ok) {
        skill_build_string_t *msg = e.tag == CHITIN_SKILL_TYPES_ERROR_INVALID_INPUT ? &e.val.invalid_input
                                    : e.tag == CHITIN_SKILL_TYPES_ERROR_DENIED    ? &e.val.denied
                                                                                  : &e.val.failed;
        chitin_status kind = e.tag == CHITIN_SKILL_TYPES_ERROR_INVALID_INPUT ? CHITIN_INVALID_INPUT
                             : e.tag == CHITIN_SKILL_TYPES_ERROR_DENIED      ? CHITIN_DENIED
                                                                             : CHITIN_FAILED;
        chitin_error(err, kind, "%.*s", (int)msg->len, (const char *)msg->ptr);
        chitin_skill_exec_error_free(&e);
        return kind;
    }
    output->has_status = out.status.is_some;
    output->status = out.status.val;
    chitin_buf_append(&output->stdout_buf, (const char *)out.stdout.ptr, out.stdout.len);
    chitin_buf_append(&output->stderr_buf, (const char *)out.stderr.ptr, out.stderr.len);
    output->truncated = out.truncated;
    chitin_skill_exec_output_free(&out);
    return CHITIN_OK;
}
#else
chitin_status chitin_exec(const char *program, const char *const *argv, size_t argc, const char *cwd,
                          chitin_output *output, chitin_buf *err) {
    (void)argv; (void)argc; (void)cwd;
    memset(output, 0, sizeof *output);
    return chitin_error(err, CHITIN_DENIED, "cannot run `%s`: the skill declares no `exec` in skill.toml", program);
}
#endif

#else
/* ------------------------------------------------------------------ natively, for tests */

void chitin_log(chitin_level level, const char *message) {
    static const char *names[] = {"trace", "debug", "info", "warn", "error"};
    fprintf(stderr, "[%s] %s\n", names[level], message);
}

chitin_status chitin_exec(const char *program, const char *const *argv, size_t argc, const char *cwd,
                          chitin_output *output, chitin_buf *err) {
    (void)argv; (void)argc; (void)cwd;
    memset(output, 0, sizeof *output);
    return chitin_error(err, CHITIN_FAILED, "cannot run `%s`: exec is only available inside the chitin host", program);
}
#endif
