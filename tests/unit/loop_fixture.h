/* Test fixtures shared by the loop-driven unit tests (config watch, ops, observer): run a libuv
 * loop until a condition holds, and replace a file the way an editor does. Include after cmocka.h.
 */
#ifndef TX_TEST_LOOP_FIXTURE_H
#define TX_TEST_LOOP_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

static inline void fixture_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until cond(ud) holds or deadline_ms passes; returns cond's last value. A 5 ms
 * timer keeps the loop turning so the deadline is checked even when nothing else happens. */
static inline int run_until(uv_loop_t *loop, int (*cond)(void *), void *ud, int deadline_ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, fixture_tick, 5, 5);
    uint64_t end = uv_now(loop) + (uint64_t)deadline_ms;
    int ok = cond(ud);
    while (!ok && uv_now(loop) < end) {
        uv_run(loop, UV_RUN_ONCE);
        ok = cond(ud);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

/* Like an editor: writes text to "<path>.tmp", then renames it over path (asserts each step). */
static inline void write_file(const char *path, const char *text)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

#endif
