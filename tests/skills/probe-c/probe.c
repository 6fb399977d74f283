/* The probe in C: the same tools as the Rust probe (tests/skills/probe), for the
 * capability matrix (tests/capability_matrix.rs) and the benchmark — all but `http`:
 * the C SDK has no HTTP client, so the matrix skips the HTTP tests for C (and says
 * why). I/O errors come back as tool errors (`denied` when the sandbox refused,
 * `failed` otherwise); `spin`, `alloc` and `flood_stdout` misbehave on purpose. */
#include "chitin.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern char **environ;

#define OBJECT(props, req) "{\"type\":\"object\",\"properties\":{" props "},\"required\":[" req "]}"
#define STR "{\"type\":\"string\"}"
#define INT "{\"type\":\"integer\",\"minimum\":0}"

static chitin_status noop(const chitin_value *args, chitin_buf *out) {
    (void)args;
    chitin_buf_append_str(out, "\"ok\"");
    return CHITIN_OK;
}

static chitin_status echo(const chitin_value *args, chitin_buf *out) {
    const chitin_value *text = chitin_get(args, "text");
    if (!text || text->kind != CHITIN_JSON_STRING) return chitin_error(out, CHITIN_INVALID_INPUT, "`text` must be a string");
    chitin_buf_json_string(out, text->string, text->len);
    return CHITIN_OK;
}

/* The whole file into `into`; an errno on failure. */
static int slurp(const char *path, chitin_buf *into) {
    FILE *f = fopen(path, "rb");
    if (!f) return errno;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) chitin_buf_append(into, chunk, n);
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (!into->data) chitin_buf_append(into, "", 0);
    return err;
}

static chitin_status read_file(const chitin_value *args, chitin_buf *out) {
    const char *path = chitin_get_string(args, "path");
    if (!path) return chitin_error(out, CHITIN_INVALID_INPUT, "`path` must be a string");
    chitin_buf text = {0};
    int err = slurp(path, &text);
    if (err) {
        chitin_buf_free(&text);
        char what[4200];
        snprintf(what, sizeof what, "read %s", path);
        return chitin_errno_error(out, err, what);
    }
    chitin_buf_json_string(out, text.data, text.len);
    chitin_buf_free(&text);
    return CHITIN_OK;
}

static chitin_status write_file(const chitin_value *args, chitin_buf *out) {
    const char *path = chitin_get_string(args, "path");
    const chitin_value *content = chitin_get(args, "content");
    if (!path || !content || content->kind != CHITIN_JSON_STRING)
        return chitin_error(out, CHITIN_INVALID_INPUT, "`path` and `content` must be strings");
    char what[4200];
    snprintf(what, sizeof what, "write %s", path);
    FILE *f = fopen(path, "wb");
    if (!f) return chitin_errno_error(out, errno, what);
    size_t n = fwrite(content->string, 1, content->len, f);
    int err = n < content->len ? errno : 0;
    if (fclose(f) != 0 && !err) err = errno;
    if (err) return chitin_errno_error(out, err, what);
    chitin_buf_printf(out, "{\"written\":%zu}", content->len);
    return CHITIN_OK;
}

static int compare(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static chitin_status list_dir(const chitin_value *args, chitin_buf *out) {
    const char *path = chitin_get_string(args, "path");
    if (!path) return chitin_error(out, CHITIN_INVALID_INPUT, "`path` must be a string");
    DIR *dir = opendir(path);
    if (!dir) return chitin_errno_error(out, errno, path);
    char **names = NULL;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
        names = realloc(names, (count + 1) * sizeof *names);
        names[count++] = strdup(entry->d_name);
    }
    closedir(dir);
    qsort(names, count, sizeof *names, compare);
    chitin_buf_append_str(out, "[");
    for (size_t i = 0; i < count; i++) {
        if (i) chitin_buf_append_str(out, ",");
        chitin_buf_json_string(out, names[i], strlen(names[i]));
        free(names[i]);
    }
    free(names);
    chitin_buf_append_str(out, "]");
    return CHITIN_OK;
}

static chitin_status stat_tool(const chitin_value *args, chitin_buf *out) {
    const char *path = chitin_get_string(args, "path");
    if (!path) return chitin_error(out, CHITIN_INVALID_INPUT, "`path` must be a string");
    struct stat link, meta;
    if (lstat(path, &link) != 0 || stat(path, &meta) != 0) return chitin_errno_error(out, errno, path);
    const char *kind = S_ISDIR(meta.st_mode) ? "dir" : S_ISREG(meta.st_mode) ? "file" : "other";
    chitin_buf_printf(out, "{\"kind\":\"%s\",\"len\":%lld,\"readonly\":%s,\"symlink\":%s}", kind, (long long)meta.st_size,
                      (meta.st_mode & 0222) ? "false" : "true", S_ISLNK(link.st_mode) ? "true" : "false");
    return CHITIN_OK;
}

static chitin_status exec_tool(const chitin_value *args, chitin_buf *out) {
    const char *program = chitin_get_string(args, "program");
    const chitin_value *list = chitin_get(args, "args");
    if (!program || !list || list->kind != CHITIN_JSON_ARRAY)
        return chitin_error(out, CHITIN_INVALID_INPUT, "`program` must be a string and `args` an array");
    const char **argv = calloc(list->len + 1, sizeof *argv);
    for (size_t i = 0; i < list->len; i++) {
        if (list->items[i].kind != CHITIN_JSON_STRING) {
            free(argv);
            return chitin_error(out, CHITIN_INVALID_INPUT, "`args` must hold strings");
        }
        argv[i] = list->items[i].string;
    }
    chitin_output o;
    chitin_status status = chitin_exec(program, argv, list->len, chitin_get_string(args, "cwd"), &o, out);
    free(argv);
    if (status != CHITIN_OK) return status;
    chitin_buf_append_str(out, "{\"status\":");
    if (o.has_status) chitin_buf_printf(out, "%d", o.status);
    else chitin_buf_append_str(out, "null");
    chitin_buf_append_str(out, ",\"stdout\":");
    chitin_buf_json_string(out, o.stdout_buf.data ? o.stdout_buf.data : "", o.stdout_buf.len);
    chitin_buf_append_str(out, ",\"stderr\":");
    chitin_buf_json_string(out, o.stderr_buf.data ? o.stderr_buf.data : "", o.stderr_buf.len);
    chitin_buf_printf(out, ",\"truncated\":%s}", o.truncated ? "true" : "false");
    chitin_output_free(&o);
    return CHITIN_OK;
}

static chitin_status env_tool(const chitin_value *args, chitin_buf *out) {
    const char *name = chitin_get_string(args, "name");
    if (!name) return chitin_error(out, CHITIN_INVALID_INPUT, "`name` must be a string");
    const char *value = getenv(name);
    if (value) chitin_buf_json_string(out, value, strlen(value));
    else chitin_buf_append_str(out, "null");
    return CHITIN_OK;
}

static chitin_status env_all(const chitin_value *args, chitin_buf *out) {
    (void)args;
    chitin_buf_append_str(out, "{");
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        if (e != environ) chitin_buf_append_str(out, ",");
        chitin_buf_json_string(out, *e, (size_t)(eq - *e));
        chitin_buf_append_str(out, ":");
        chitin_buf_json_string(out, eq + 1, strlen(eq + 1));
    }
    chitin_buf_append_str(out, "}");
    return CHITIN_OK;
}

static chitin_status spin(const chitin_value *args, chitin_buf *out) {
    (void)args; (void)out;
    volatile unsigned long n = 0;
    for (;;) n++;
}

static chitin_status alloc_tool(const chitin_value *args, chitin_buf *out) {
    double mib;
    if (!chitin_get_number(args, "mib", &mib) || mib < 0) return chitin_error(out, CHITIN_INVALID_INPUT, "`mib` must be a number");
    size_t size = (size_t)mib << 20;
    volatile unsigned char *block = malloc(size ? size : 1);
    /* A memory bomb: like Rust's allocator, abort when memory runs out (the host has
     * already refused to grow it and reports the memory limit). */
    if (!block) abort();
    unsigned long long checksum = 0;
    for (size_t i = 0; i < size; i += 4096) {
        block[i] = (unsigned char)(((i >> 12) & 0xff) | 1);
        checksum += block[i];
    }
    free((void *)block);
    chitin_buf_printf(out, "{\"mib\":%zu,\"checksum\":%llu}", (size_t)mib, checksum);
    return CHITIN_OK;
}

static chitin_status flood_stdout(const chitin_value *args, chitin_buf *out) {
    double bytes;
    if (!chitin_get_number(args, "bytes", &bytes) || bytes < 0) return chitin_error(out, CHITIN_INVALID_INPUT, "`bytes` must be a number");
    static char chunk[65536];
    memset(chunk, 'A', sizeof chunk);
    size_t total = (size_t)bytes, written = 0;
    while (written < total) {
        size_t n = total - written < sizeof chunk ? total - written : sizeof chunk;
        if (fwrite(chunk, 1, n, stdout) != n) return chitin_error(out, CHITIN_FAILED, "stdout after %zu bytes: %s", written, strerror(errno));
        written += n;
    }
    if (fflush(stdout) != 0) return chitin_error(out, CHITIN_FAILED, "stdout after %zu bytes: %s", written, strerror(errno));
    chitin_buf_printf(out, "{\"written\":%zu}", written);
    return CHITIN_OK;
}

static chitin_status big_result(const chitin_value *args, chitin_buf *out) {
    double bytes;
    if (!chitin_get_number(args, "bytes", &bytes) || bytes < 0) return chitin_error(out, CHITIN_INVALID_INPUT, "`bytes` must be a number");
    chitin_buf_append_str(out, "\"");
    for (size_t i = 0; i < (size_t)bytes; i++) chitin_buf_append(out, "x", 1);
    chitin_buf_append_str(out, "\"");
    return CHITIN_OK;
}

static chitin_status read_loop(const chitin_value *args, chitin_buf *out) {
    const char *path = chitin_get_string(args, "path");
    double times;
    if (!path || !chitin_get_number(args, "times", &times)) return chitin_error(out, CHITIN_INVALID_INPUT, "`path` and `times` are required");
    chitin_buf seen[16] = {{0}};
    size_t count = 0;
    int last = 0;
    for (size_t i = 0; i < (size_t)times; i++) {
        chitin_buf text = {0};
        int err = slurp(path, &text);
        if (err) {
            last = err;
            chitin_buf_free(&text);
            continue;
        }
        bool known = false;
        for (size_t j = 0; j < count; j++) known |= seen[j].len == text.len && !memcmp(seen[j].data, text.data, text.len);
        if (!known && count < 16) seen[count++] = text;
        else chitin_buf_free(&text);
    }
    if (count == 0 && last) {
        char what[4200];
        snprintf(what, sizeof what, "read %s", path);
        return chitin_errno_error(out, last, what);
    }
    chitin_buf_append_str(out, "[");
    for (size_t j = 0; j < count; j++) {
        if (j) chitin_buf_append_str(out, ",");
        chitin_buf_json_string(out, seen[j].data, seen[j].len);
        chitin_buf_free(&seen[j]);
    }
    chitin_buf_append_str(out, "]");
    return CHITIN_OK;
}

CHITIN_TOOLS(
    {"noop", "Do nothing and return \"ok\"", OBJECT("", ""), noop},
    {"echo", "Return the text given", OBJECT("\"text\":" STR, "\"text\""), echo},
    {"read_file", "Read a file as text", OBJECT("\"path\":" STR, "\"path\""), read_file},
    {"write_file", "Write a text file (created or truncated)", OBJECT("\"path\":" STR ",\"content\":" STR, "\"path\",\"content\""), write_file},
    {"list_dir", "List the names in a directory, sorted", OBJECT("\"path\":" STR, "\"path\""), list_dir},
    {"stat", "Describe a file or directory", OBJECT("\"path\":" STR, "\"path\""), stat_tool},
    {"exec", "Run a program through the host",
     OBJECT("\"program\":" STR ",\"args\":{\"type\":\"array\",\"items\":" STR "},\"cwd\":" STR, "\"program\",\"args\""), exec_tool},
    {"env", "Read one environment variable (null when unset)", OBJECT("\"name\":" STR, "\"name\""), env_tool},
    {"env_all", "All visible environment variables", OBJECT("", ""), env_all},
    {"spin", "Loop forever", OBJECT("", ""), spin},
    {"alloc", "Allocate and touch this many MiB", OBJECT("\"mib\":" INT, "\"mib\""), alloc_tool},
    {"flood_stdout", "Print this many bytes to stdout", OBJECT("\"bytes\":" INT, "\"bytes\""), flood_stdout},
    {"big_result", "Return a string of this many bytes", OBJECT("\"bytes\":" INT, "\"bytes\""), big_result},
    {"read_loop", "Read a file repeatedly; distinct contents seen", OBJECT("\"path\":" STR ",\"times\":" INT, "\"path\",\"times\""), read_loop},
)
