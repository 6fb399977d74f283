/* Native tests: cc -I../../../skills-sdk/c -o /tmp/t test_wordcount.c wordcount.c
 * ../../../skills-sdk/c/chitin.c && /tmp/t  (`chitin skill build` leaves out test_*.c) */
#include "chitin.h"

#include <stdio.h>
#include <string.h>

int main(void) {
    int failures = 0, passes = 0;
    FILE *f = fopen("/tmp/chitin-wordcount-test.txt", "w");
    fputs("the cat and the hat\nthe end\n", f);
    fclose(f);
    struct { const char *tool, *args, *want; } cases[] = {
        {"count", "{\"path\":\"/tmp/chitin-wordcount-test.txt\"}",
         "{\"path\":\"/tmp/chitin-wordcount-test.txt\",\"lines\":2,\"words\":7,\"bytes\":28,\"chars\":28}"},
        {"top_words", "{\"path\":\"/tmp/chitin-wordcount-test.txt\",\"limit\":2}",
         "[{\"word\":\"the\",\"count\":3},{\"word\":\"and\",\"count\":1}]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        chitin_buf out = {0};
        chitin_status s = chitin_invoke(cases[i].tool, cases[i].args, strlen(cases[i].args), &out);
        if (s == CHITIN_OK && strcmp(out.data, cases[i].want) == 0) {
            passes++;
        } else {
            failures++;
            fprintf(stderr, "FAIL %s: %d %s\n", cases[i].tool, s, out.data);
        }
        chitin_buf_free(&out);
    }
    remove("/tmp/chitin-wordcount-test.txt");
    printf("%d passed, %d failed\n", passes, failures);
    return failures != 0;
}
