/* Native tests: `make test` compiles this with skill.c and chitin.c for this machine.
 * (`chitin skill build` leaves out test_*.c.) `chitin run` runs the built skill in the
 * real host. */
#include "chitin.h"

#include <stdio.h>
#include <string.h>

static int failures, passes;

static void check(const char *tool, const char *args, chitin_status want, const char *want_out) {
    chitin_buf out = {0};
    chitin_status got = chitin_invoke(tool, args, strlen(args), &out);
    if (got == want && (!want_out || (out.data && strcmp(out.data, want_out) == 0))) {
        passes++;
    } else {
        failures++;
        fprintf(stderr, "FAIL %s %s: status %d, output %s\n", tool, args, got, out.data ? out.data : "");
    }
    chitin_buf_free(&out);
}

int main(void) {
    check("hello", "{\"name\":\"Ada\"}", CHITIN_OK, "\"Hello, Ada!\"");
    check("hello", "{\"name\":\"\"}", CHITIN_INVALID_INPUT, NULL);
    check("hello", "{\"name\":5}", CHITIN_INVALID_INPUT, NULL);
    check("nope", "{}", CHITIN_INVALID_INPUT, NULL);
    printf("%d passed, %d failed\n", passes, failures);
    return failures != 0;
}
