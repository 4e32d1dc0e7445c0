/* Notifications: per-type throttling with a passed-in clock, webhook and Telegram payloads,
 * redaction (the bot token never reaches the log), failures counted, never waiting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obs/notify.h"

#define TOKEN "123456:AAE-secret-token"

typedef struct {
    int calls, fail;
    char url[8][512];
    char json[8][2048];
} recorder_t;

static int record(void *ud, const char *url, const char *json)
{
    recorder_t *r = ud;
    if (r->calls < 8) {
        snprintf(r->url[r->calls], sizeof(r->url[0]), "%s", url);
        snprintf(r->json[r->calls], sizeof(r->json[0]), "%s", json);
    }
    r->calls++;
    return r->fail;
}

static const tx_ms_t WALL = 1767225600000; /* 2026-01-01T00:00:00Z */

static void throttles_per_type(void **state)
{
    (void)state;
    recorder_t r = {0};
    tx_notify_config_t cfg = {.webhook_url = "https://hooks.example.com/T0/B0/xyz"};
    cfg.interval_s[TX_NOTIFY_RATE_LIMIT] = 60;
    tx_notify_t *n = tx__notify_create(&cfg, record, &r);
    assert_non_null(n);
    assert_int_equal(tx__notify_event(n, TX_NOTIFY_RATE_LIMIT, "429", 2, 4, 1000, WALL),
                     TX_NOTIFY_SENT);
    assert_int_equal(tx__notify_event(n, TX_NOTIFY_RATE_LIMIT, "429", 3, 8, 60999, WALL),
                     TX_NOTIFY_SUPPRESSED);
    /* another type has its own interval */
    assert_int_equal(tx__notify_event(n, TX_NOTIFY_QUOTA_EXCEEDED, "quota", 1, -1, 2000, WALL),
                     TX_NOTIFY_SENT);
    assert_int_equal(
        tx__notify_event(n, TX_NOTIFY_QUOTA_EXCEEDED, "quota", 1, -1, 2000 + 899999, WALL),
        TX_NOTIFY_SUPPRESSED); /* default 900 s */
    assert_int_equal(tx__notify_event(n, TX_NOTIFY_RATE_LIMIT, "429", 4, 8, 61000, WALL),
                     TX_NOTIFY_SENT);
    assert_int_equal(tx__notify_event(n, TX_NOTIFY_QUOTA_EXCEEDED, "quota", 1, -1, 902000, WALL),
                     TX_NOTIFY_SENT);
    assert_int_equal(r.calls, 4);
    tx_notify_stats_t st;
    tx__notify_stats(n, &st);
    assert_int_equal(st.sent, 4);
    assert_int_equal(st.suppressed, 2);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.by_type_sent[TX_NOTIFY_RATE_LIMIT], 2);
    /* a reload keeps the throttle state and applies new intervals */
    cfg.interval_s[TX_NOTIFY_RATE_LIMIT] = 10;
    assert_int_equal(tx__notify_configure(n, &cfg), 0);
    assert_int_equal(tx__notify_event(n, TX_NOTIFY_RATE_LIMIT, "429", 5, 8, 70999, WALL),
                     TX_NOTIFY_SUPPRESSED);
    assert_int_equal(tx__notify_event(n, TX_NOTIFY_RATE_LIMIT, "429", 5, 8, 71000, WALL),
                     TX_NOTIFY_SENT);
    assert_int_equal(tx__notify_event(n, (tx_notify_type_t)99, "x", 1, 1, 0, WALL), TX_NOTIFY_OFF);
    tx__notify_destroy(n);
    tx__notify_destroy(NULL);
    assert_null(tx__notify_create(&cfg, NULL, NULL));
    /* nothing configured: off */
    tx_notify_t *off = tx__notify_create(NULL, record, &r);
    assert_int_equal(tx__notify_event(off, TX_NOTIFY_AUTH_FAILED, "401", 1, 0, 0, WALL),
                     TX_NOTIFY_OFF);
    tx__notify_destroy(off);
}

static void webhook_payload(void **state)
{
    (void)state;
    recorder_t r = {0};
    tx_notify_config_t cfg = {.webhook_url = "http://127.0.0.1:9/hook"};
    tx_notify_t *n = tx__notify_create(&cfg, record, &r);
    assert_int_equal(tx__notify_event(n, TX_NOTIFY_ENDPOINT_DOWN, "endpoint 0 down \"x\"\n\xff", 3,
                                      30.5, 0, WALL + 1500),
                     TX_NOTIFY_SENT);
    assert_string_equal(r.url[0], "http://127.0.0.1:9/hook");
    json_error_t err;
    json_t *o = json_loads(r.json[0], 0, &err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "endpoint_down");
    assert_string_equal(json_string_value(json_object_get(o, "message")),
                        "endpoint 0 down \"x\"\n?");
    assert_string_equal(json_string_value(json_object_get(o, "at")), "2026-01-01T00:00:01Z");
    assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 3);
    assert_true(json_real_value(json_object_get(o, "delay_s")) == 30.5);
    json_decref(o);
    /* unknown attempt and delay are null; huge messages are cut */
    char *big = malloc(100000);
    memset(big, 'a', 99999);
    big[99999] = '\0';
    char *s = tx__notify_webhook_json(TX_NOTIFY_AUTH_FAILED, big, -1, -1, WALL);
    free(big);
    o = json_loads(s, 0, &err);
    free(s);
    assert_non_null(o);
    assert_true(json_is_null(json_object_get(o, "attempt")));
    assert_true(json_is_null(json_object_get(o, "delay_s")));
    assert_int_equal(strlen(json_string_value(json_object_get(o, "message"))),
                     TX_NOTIFY_MESSAGE_MAX);
    json_decref(o);
    assert_null(tx__notify_webhook_json((tx_notify_type_t)-1, "x", 1, 1, WALL));
    /* a post that cannot start is counted failed; a later reported failure too */
    r.fail = 1;
    assert_int_equal(tx__notify_event(n, TX_NOTIFY_QUOTA_EXCEEDED, "q", 1, 0, 0, WALL),
                     TX_NOTIFY_FAILED);
    r.fail = 0;
    tx__notify_delivered(n, 0);
    tx_notify_stats_t st;
    tx__notify_stats(n, &st);
    assert_int_equal(st.sent, 0);
    assert_int_equal(st.failed, 2);
    tx__notify_destroy(n);
}

static void telegram_and_redaction(void **state)
{
    (void)state;
    char url[256];
    assert_int_equal(tx__notify_telegram_url(NULL, TOKEN, url, sizeof(url)), 0);
    assert_string_equal(url, "https://api.telegram.org/bot" TOKEN "/sendMessage");
    assert_int_equal(tx__notify_telegram_url("http://127.0.0.1:8081/", TOKEN, url, sizeof(url)), 0);
    assert_string_equal(url, "http://127.0.0.1:8081/bot" TOKEN "/sendMessage");
    assert_int_equal(tx__notify_telegram_url(NULL, "bad/token", url, sizeof(url)), -1);
    assert_int_equal(tx__notify_telegram_url(NULL, "", url, sizeof(url)), -1);
    assert_int_equal(tx__notify_telegram_url(NULL, TOKEN, url, 20), -1);
    assert_null(strstr(url, "123456")); /* no partial token left behind */
    assert_int_equal(tx__notify_telegram_url_redacted(NULL, url, sizeof(url)), 0);
    assert_string_equal(url, "https://api.telegram.org/bot<redacted>/sendMessage");
    assert_int_equal(
        tx__notify_redact_url("https://user:pw@hooks.example.com:8443/T0/B0/secret?x=1", url,
                              sizeof(url)),
        0);
    assert_string_equal(url, "https://hooks.example.com:8443/<redacted>");
    assert_int_equal(tx__notify_redact_url("no scheme", url, sizeof(url)), -1);
    assert_string_equal(url, "<redacted>");

    char *body = tx__notify_telegram_json("-100123", TX_NOTIFY_QUOTA_EXCEEDED, "insufficient_quota",
                                          5, -1, WALL);
    json_t *o = json_loads(body, 0, NULL);
    free(body);
    assert_string_equal(json_string_value(json_object_get(o, "chat_id")), "-100123");
    assert_string_equal(
        json_string_value(json_object_get(o, "text")),
        "[tenax] quota_exceeded: insufficient_quota (attempt 5) at 2026-01-01T00:00:00Z");
    json_decref(o);
    assert_null(tx__notify_telegram_json("", TX_NOTIFY_QUOTA_EXCEEDED, "x", 1, 1, WALL));

    /* an event goes to both destinations; the log shows neither the token nor the hook path */
    recorder_t r = {0};
    tx_notify_config_t cfg = {.webhook_url = "https://hooks.example.com/T0/B0/hooksecret",
                              .telegram_bot_token = TOKEN,
                              .telegram_chat_id = "42"};
    tx_notify_t *n = tx__notify_create(&cfg, record, &r);
    char logpath[] = "/tmp/tx_notify_log_XXXXXX";
    int fd = mkstemp(logpath);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    tx_notify_outcome_t out =
        tx__notify_event(n, TX_NOTIFY_AUTH_FAILED, "401 from endpoint 0", 1, 0, 0, WALL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(out, TX_NOTIFY_SENT);
    assert_int_equal(r.calls, 2);
    assert_string_equal(r.url[1], "https://api.telegram.org/bot" TOKEN "/sendMessage");
    char logbuf[4096];
    lseek(fd, 0, SEEK_SET);
    ssize_t got = read(fd, logbuf, sizeof(logbuf) - 1);
    close(fd);
    unlink(logpath);
    assert_true(got > 0);
    logbuf[got] = '\0';
    assert_non_null(strstr(logbuf, "bot<redacted>"));
    assert_null(strstr(logbuf, "secret-token"));
    assert_null(strstr(logbuf, "hooksecret"));
    tx__notify_destroy(n);
}

static void config_from_env(void **state)
{
    (void)state;
    setenv("NOTIFY_QUOTA_INTERVAL_S", "120", 1);
    setenv("NOTIFY_RATE_LIMIT_INTERVAL_S", "abc", 1);
    setenv("NOTIFY_TELEGRAM_CHAT_ID", "7", 1);
    tx_notify_config_t cfg;
    tx__notify_config_from_env(&cfg);
    assert_int_equal(cfg.interval_s[TX_NOTIFY_QUOTA_EXCEEDED], 120);
    assert_int_equal(cfg.interval_s[TX_NOTIFY_RATE_LIMIT], 0); /* garbage: default */
    assert_string_equal(cfg.telegram_chat_id, "7");
    assert_string_equal(tx__notify_type_name(TX_NOTIFY_RATE_LIMIT), "rate_limit");
    assert_int_equal(tx__notify_type_for_class(TX_CLASS_CONCURRENCY), TX_NOTIFY_RATE_LIMIT);
    assert_int_equal(tx__notify_type_for_class(TX_CLASS_RATE_LIMIT), TX_NOTIFY_RATE_LIMIT);
    assert_int_equal(tx__notify_type_for_class(TX_CLASS_QUOTA), TX_NOTIFY_QUOTA_EXCEEDED);
    assert_int_equal(tx__notify_type_for_class(TX_CLASS_AUTH), TX_NOTIFY_AUTH_FAILED);
    assert_int_equal(tx__notify_type_for_class(TX_CLASS_SERVER), -1);
    assert_int_equal(tx__notify_type_for_class((tx_class_t)999), -1);
    assert_string_equal(tx__notify_type_name((tx_notify_type_t)9), "unknown");
    char b[32];
    assert_int_equal(tx__notify_rfc3339(WALL, b, sizeof(b)), 0);
    assert_string_equal(b, "2026-01-01T00:00:00Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(throttles_per_type),
        cmocka_unit_test(webhook_payload),
        cmocka_unit_test(telegram_and_redaction),
        cmocka_unit_test(config_from_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
