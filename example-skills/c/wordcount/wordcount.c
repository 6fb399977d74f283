/* wordcount: line, word and byte counts of files in the workspace (like `wc`), of every
 * file in a folder, and the most frequent words of a file. Read-only (see skill.toml). */
#include "chitin.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    unsigned long long lines, words, bytes, chars;
} counts;

/* Relative paths are taken from the workspace (mounted at /workspace). */
static void resolve(const char *path, char *out, size_t n) {
    snprintf(out, n, "%s%s", path[0] == '/' ? "" : "/workspace/", path);
}

/* Count like `wc`: words are runs of non-space bytes, chars are UTF-8 code points. */
static int count_file(const char *path, counts *c) {
    FILE *f = fopen(path, "rb");
    if (!f) return errno;
    memset(c, 0, sizeof *c);
    int ch, in_word = 0;
    while ((ch = fgetc(f)) != EOF) {
        c->bytes++;
        if ((ch & 0xC0) != 0x80) c->chars++;
        if (ch == '\n') c->lines++;
        if (isspace(ch)) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            c->words++;
        }
    }
    int err = ferror(f) ? EIO : 0;
    fclose(f);
    return err;
}

static void counts_json(chitin_buf *out, const counts *c) {
    chitin_buf_printf(out, "\"lines\":%llu,\"words\":%llu,\"bytes\":%llu,\"chars\":%llu", c->lines, c->words,
                      c->bytes, c->chars);
}

static chitin_status count(const chitin_value *args, chitin_buf *out) {
    const char *path = chitin_get_string(args, "path");
    if (!path) return chitin_error(out, CHITIN_INVALID_INPUT, "`path` must be a string");
    char full[4096];
    resolve(path, full, sizeof full);
    counts c;
    int err = count_file(full, &c);
    if (err) return chitin_errno_error(out, err, full);
    chitin_buf_append_str(out, "{\"path\":");
    chitin_buf_json_string(out, full, strlen(full));
    chitin_buf_append_str(out, ",");
    counts_json(out, &c);
    chitin_buf_append_str(out, "}");
    return CHITIN_OK;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static chitin_status count_folder(const chitin_value *args, chitin_buf *out) {
    const char *path = chitin_get_string(args, "path");
    const char *ext = chitin_get_string(args, "extension");
    char dir[4096];
    resolve(path ? path : "", dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return chitin_errno_error(out, errno, dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (ext && *ext && (len < strlen(ext) || strcmp(e->d_name + len - strlen(ext), ext) != 0)) continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, compare_names);
    counts total = {0};
    size_t files = 0;
    chitin_buf_append_str(out, "{\"files\":[");
    for (size_t i = 0; i < n; i++) {
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", dir, names[i]);
        struct stat st;
        counts c;
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && count_file(full, &c) == 0) {
            chitin_buf_append_str(out, files ? ",{\"name\":" : "{\"name\":");
            chitin_buf_json_string(out, names[i], strlen(names[i]));
            chitin_buf_append_str(out, ",");
            counts_json(out, &c);
            chitin_buf_append_str(out, "}");
            total.lines += c.lines, total.words += c.words, total.bytes += c.bytes, total.chars += c.chars;
            files++;
        }
        free(names[i]);
    }
    free(names);
    chitin_buf_append_str(out, "],\"total\":{");
    counts_json(out, &total);
    chitin_buf_printf(out, ",\"files\":%zu}}", files);
    return CHITIN_OK;
}

/* ---- most frequent words: an open-addressing hash table of lowercase words */

typedef struct {
    char *word;
    unsigned long count;
} entry;

static unsigned long hash(const char *s) {
    unsigned long h = 5381;
    while (*s) h = h * 33 + (unsigned char)*s++;
    return h;
}

static int by_count(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

static chitin_status top_words(const chitin_value *args, chitin_buf *out) {
    const char *path = chitin_get_string(args, "path");
    double limit = 10, min_length = 1;
    chitin_get_number(args, "limit", &limit);
    chitin_get_number(args, "min_length", &min_length);
    if (!path || limit < 1 || limit > 1000) return chitin_error(out, CHITIN_INVALID_INPUT, "`path` is required and `limit` is 1 to 1000");
    char full[4096];
    resolve(path, full, sizeof full);
    FILE *f = fopen(full, "rb");
    if (!f) return chitin_errno_error(out, errno, full);
    size_t cap = 1024, used = 0;
    entry *table = calloc(cap, sizeof *table);
    char word[256];
    size_t len = 0;
    for (int ch = 0; ch != EOF;) {
        ch = fgetc(f);
        /* Letters, digits, apostrophes and any non-ASCII byte (UTF-8 letters) make words. */
        if (ch != EOF && (isalnum(ch) || ch == '\'' || ch >= 0x80)) {
            if (len < sizeof word - 1) word[len++] = (char)tolower(ch);
            continue;
        }
        if (len == 0) continue;
        word[len] = '\0';
        if (len >= (size_t)min_length) {
            if (used * 2 >= cap) { /* grow and rehash */
                entry *bigger = calloc(cap * 2, sizeof *bigger);
                for (size_t i = 0; i < cap; i++) {
                    if (!table[i].word) continue;
                    size_t j = hash(table[i].word) & (cap * 2 - 1);
                    while (bigger[j].word) j = (j + 1) & (cap * 2 - 1);
                    bigger[j] = table[i];
                }
                free(table);
                table = bigger;
                cap *= 2;
            }
            size_t j = hash(word) & (cap - 1);
            while (table[j].word && strcmp(table[j].word, word) != 0) j = (j + 1) & (cap - 1);
            if (!table[j].word) {
                table[j].word = strdup(word);
                used++;
            }
            table[j].count++;
        }
        len = 0;
    }
    fclose(f);
    size_t n = 0;
    for (size_t i = 0; i < cap; i++)
        if (table[i].word) table[n++] = table[i];
    qsort(table, n, sizeof *table, by_count);
    chitin_buf_append_str(out, "[");
    for (size_t i = 0; i < n; i++) {
        if (i < (size_t)limit) {
            chitin_buf_append_str(out, i ? ",{\"word\":" : "{\"word\":");
            chitin_buf_json_string(out, table[i].word, strlen(table[i].word));
            chitin_buf_printf(out, ",\"count\":%lu}", table[i].count);
        }
        free(table[i].word);
    }
    free(table);
    chitin_buf_append_str(out, "]");
    return CHITIN_OK;
}

#define PATH_PROP "\"path\":{\"type\":\"string\",\"description\":\"A file in the workspace, e.g. README.md\"}"

CHITIN_TOOLS(
    {"count", "Line, word, byte and character counts of a file in the workspace",
     "{\"type\":\"object\",\"properties\":{" PATH_PROP "},\"required\":[\"path\"]}", count},
    {"count_folder", "Counts for every file of a folder in the workspace (optionally only those ending in `extension`), and their total",
     "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"A folder in the workspace; default the workspace itself\"},"
     "\"extension\":{\"type\":\"string\",\"description\":\"e.g. .md\"}}}",
     count_folder},
    {"top_words", "The most frequent words of a file (case-insensitive)",
     "{\"type\":\"object\",\"properties\":{" PATH_PROP ",\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000,\"default\":10},"
     "\"min_length\":{\"type\":\"integer\",\"minimum\":1,\"default\":1}},\"required\":[\"path\"]}",
     top_words},
)
