/* TENAX_LOG_FORMAT=json: every line is one valid JSON object with ts, level, tag and msg, whatever
 * the message holds (quotes, control bytes, invalid UTF-8, an over-long message); levels filter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obs/log.h"

/* Runs fn with stderr sent to a temporary file; returns the file's text (caller frees). */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/tx_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)len + 1);
    assert_int_equal(pread(fd, buf, (size_t)len, 0), len);
    close(fd);
    unlink(path);
    return buf;
}

static void emit(void)
{
    char big[6000];
    memset(big, '"', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tx__log(TX_LOG_INFO, "ai][config", "AI_MODEL=\"x\" source=kv");
    tx__log(TX_LOG_WARN, "ai][auth", "path /v1/\xff\xfe\xc3(\x01\n\t end \xe2\x82\xac");
    tx__log(TX_LOG_ERROR, NULL, "%s", big);
    tx__log(TX_LOG_DEBUG, "ai][retry", "not shown at info");
    char cut[2100];
    memset(cut, 'a', sizeof cut);
    memcpy(cut + 2045, "\xe2\x82\xac", 3); /* a sequence cut by the 2047-byte message limit */
    cut[sizeof cut - 1] = '\0';
    tx__log(TX_LOG_INFO, "t", "%s", cut);
}

static void json_lines_are_valid(void **state)
{
    (void)state;
    setenv("TENAX_LOG_FORMAT", "json", 1);
    setenv("TENAX_LOG_LEVEL", "info", 1);
    tx__log_init();
    char *out = capture(emit);
    int lines = 0;
    for (char *save = NULL, *ln = strtok_r(out, "\n", &save); ln != NULL;
         ln = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *o = json_loads(ln, 0, &e);
        assert_non_null(o);
        assert_non_null(json_string_value(json_object_get(o, "ts")));
        assert_non_null(json_string_value(json_object_get(o, "level")));
        assert_non_null(json_string_value(json_object_get(o, "tag")));
        assert_non_null(json_string_value(json_object_get(o, "msg")));
        if (lines == 0) {
            assert_string_equal(json_string_value(json_object_get(o, "tag")), "ai][config");
            assert_string_equal(json_string_value(json_object_get(o, "msg")),
                                "AI_MODEL=\"x\" source=kv");
        }
        if (lines == 1) {
            const char *m = json_string_value(json_object_get(o, "msg"));
            assert_non_null(strstr(m, "/v1/?"
                                      "?"
                                      "?(\x01\n\t end \xe2\x82\xac"));
        }
        json_decref(o);
        lines++;
    }
    assert_int_equal(lines, 4); /* the debug line is filtered */
    free(out);
    unsetenv("TENAX_LOG_FORMAT");
    unsetenv("TENAX_LOG_LEVEL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(json_lines_are_valid)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
