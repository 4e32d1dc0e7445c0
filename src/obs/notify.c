/* Admin notifications: per-type throttling, the webhook and Telegram payloads (built with
 * jansson), and URL redaction so no token or webhook secret reaches a log. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "obs/log.h"
#include "obs/notify.h"
#include "core/utf8.h"

static const char *const type_names[TX_NOTIFY__LAST] = {"quota_exceeded", "rate_limit",
                                                        "auth_failed", "endpoint_down"};
static const uint32_t default_intervals[TX_NOTIFY__LAST] = TX_NOTIFY_DEFAULT_INTERVALS;

struct tx_notify {
    char *webhook, *tg_token, *tg_chat, *tg_api;
    uint32_t interval_s[TX_NOTIFY__LAST];
    int has_last[TX_NOTIFY__LAST];
    tx_ms_t last[TX_NOTIFY__LAST];
    tx_notify_post_fn post;
    void *ud;
    tx_notify_stats_t stats;
};

const char *tx__notify_type_name(tx_notify_type_t type)
{
    return (unsigned)type < TX_NOTIFY__LAST ? type_names[type] : "unknown";
}

int tx__notify_type_for_class(tx_class_t cls)
{
    switch (cls) {
    case TX_CLASS_QUOTA:
        return TX_NOTIFY_QUOTA_EXCEEDED;
    case TX_CLASS_RATE_LIMIT:
    case TX_CLASS_CONCURRENCY:
        return TX_NOTIFY_RATE_LIMIT;
    case TX_CLASS_AUTH:
        return TX_NOTIFY_AUTH_FAILED;
    default:
        return -1;
    }
}

static uint32_t env_seconds(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n <= 0 || n > 86400 * 30) return 0;
    return (uint32_t)n;
}

void tx__notify_config_from_env(tx_notify_config_t *cfg)
{
    if (cfg == NULL) return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->webhook_url = getenv("NOTIFY_WEBHOOK_URL");
    cfg->telegram_bot_token = getenv("NOTIFY_TELEGRAM_BOT_TOKEN");
    cfg->telegram_chat_id = getenv("NOTIFY_TELEGRAM_CHAT_ID");
    cfg->telegram_api = getenv("NOTIFY_TELEGRAM_API");
    cfg->interval_s[TX_NOTIFY_QUOTA_EXCEEDED] = env_seconds("NOTIFY_QUOTA_INTERVAL_S");
    cfg->interval_s[TX_NOTIFY_RATE_LIMIT] = env_seconds("NOTIFY_RATE_LIMIT_INTERVAL_S");
    cfg->interval_s[TX_NOTIFY_AUTH_FAILED] = env_seconds("NOTIFY_AUTH_INTERVAL_S");
    cfg->interval_s[TX_NOTIFY_ENDPOINT_DOWN] = env_seconds("NOTIFY_ENDPOINT_INTERVAL_S");
}

/* A copy of s, NULL for NULL or "". *ok drops to 0 when out of memory. */
static char *dup_opt(const char *s, int *ok)
{
    if (s == NULL || *s == '\0') return NULL;
    char *d = strdup(s);
    if (d == NULL) *ok = 0;
    return d;
}

static void clear_settings(tx_notify_t *n)
{
    free(n->webhook);
    if (n->tg_token != NULL) {
        memset(n->tg_token, 0, strlen(n->tg_token));
        free(n->tg_token);
    }
    free(n->tg_chat);
    free(n->tg_api);
}

int tx__notify_configure(tx_notify_t *n, const tx_notify_config_t *cfg)
{
    if (n == NULL) return -1;
    tx_notify_config_t none = {0};
    if (cfg == NULL) cfg = &none;
    int ok = 1;
    tx_notify_t tmp = {0};
    tmp.webhook = dup_opt(cfg->webhook_url, &ok);
    tmp.tg_token = dup_opt(cfg->telegram_bot_token, &ok);
    tmp.tg_chat = dup_opt(cfg->telegram_chat_id, &ok);
    tmp.tg_api = dup_opt(cfg->telegram_api, &ok);
    if (!ok) {
        clear_settings(&tmp);
        return -1;
    }
    clear_settings(n);
    n->webhook = tmp.webhook;
    n->tg_token = tmp.tg_token;
    n->tg_chat = tmp.tg_chat;
    n->tg_api = tmp.tg_api;
    for (int i = 0; i < TX_NOTIFY__LAST; i++)
        n->interval_s[i] = cfg->interval_s[i] > 0 ? cfg->interval_s[i] : default_intervals[i];
    return 0;
}

tx_notify_t *tx__notify_create(const tx_notify_config_t *cfg, tx_notify_post_fn post, void *ud)
{
    if (post == NULL) return NULL;
    tx_notify_t *n = calloc(1, sizeof(*n));
    if (n == NULL) return NULL;
    n->post = post;
    n->ud = ud;
    if (tx__notify_configure(n, cfg) != 0) {
        free(n);
        return NULL;
    }
    return n;
}

void tx__notify_destroy(tx_notify_t *n)
{
    if (n == NULL) return;
    clear_settings(n);
    free(n);
}

int tx__notify_rfc3339(tx_ms_t wall_ms, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0) return -1;
    time_t t = (time_t)(wall_ms >= 0 ? wall_ms / 1000 : (wall_ms - 999) / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}

/* The message as valid UTF-8, cut at TX_NOTIFY_MESSAGE_MAX bytes. */
static void clean_message(const char *message, char out[TX_NOTIFY_MESSAGE_MAX + 1])
{
    if (message == NULL) message = "";
    tx__utf8_sanitize(out, TX_NOTIFY_MESSAGE_MAX + 1, message,
                      strnlen(message, TX_NOTIFY_MESSAGE_MAX * 4));
}

char *tx__notify_webhook_json(tx_notify_type_t type, const char *message, int attempt,
                              double delay_s, tx_ms_t wall_ms)
{
    if ((unsigned)type >= TX_NOTIFY__LAST) return NULL;
    char msg[TX_NOTIFY_MESSAGE_MAX + 1], at[32];
    clean_message(message, msg);
    tx__notify_rfc3339(wall_ms, at, sizeof(at));
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:o, s:o}", "type", type_names[type], "message", msg, "at", at,
                  "attempt", attempt >= 0 ? json_integer(attempt) : json_null(), "delay_s",
                  delay_s >= 0 && isfinite(delay_s) ? json_real(delay_s) : json_null());
    if (o == NULL) return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* The API base without a trailing '/'; its length in *len. */
static const char *api_base(const char *api, size_t *len)
{
    if (api == NULL || *api == '\0') api = TX_NOTIFY_DEFAULT_TELEGRAM_API;
    size_t n = strlen(api);
    while (n > 0 && api[n - 1] == '/')
        n--;
    *len = n;
    return api;
}

int tx__notify_telegram_url(const char *api, const char *token, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0) return -1;
    buf[0] = '\0';
    if (token == NULL || *token == '\0') return -1;
    for (const char *p = token; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '%') return -1;
    }
    size_t alen;
    const char *a = api_base(api, &alen);
    int w = snprintf(buf, cap, "%.*s/bot%s/sendMessage", (int)alen, a, token);
    if (w < 0 || (size_t)w >= cap) {
        memset(buf, 0, cap); /* a cut URL still holds part of the token */
        return -1;
    }
    return 0;
}

int tx__notify_telegram_url_redacted(const char *api, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0) return -1;
    size_t alen;
    const char *a = api_base(api, &alen);
    int w = snprintf(buf, cap, "%.*s/bot<redacted>/sendMessage", (int)alen, a);
    return w < 0 || (size_t)w >= cap ? -1 : 0;
}

char *tx__notify_telegram_json(const char *chat_id, tx_notify_type_t type, const char *message,
                               int attempt, double delay_s, tx_ms_t wall_ms)
{
    if (chat_id == NULL || *chat_id == '\0' || (unsigned)type >= TX_NOTIFY__LAST) return NULL;
    char msg[TX_NOTIFY_MESSAGE_MAX + 1], at[32], chat[128], extra[96] = "";
    clean_message(message, msg);
    tx__utf8_sanitize(chat, sizeof(chat), chat_id, strnlen(chat_id, sizeof(chat) - 1));
    tx__notify_rfc3339(wall_ms, at, sizeof(at));
    if (!isfinite(delay_s)) delay_s = -1;
    if (attempt >= 0 && delay_s >= 0)
        snprintf(extra, sizeof(extra), " (attempt %d, retry in %.0f s)", attempt, delay_s);
    else if (attempt >= 0)
        snprintf(extra, sizeof(extra), " (attempt %d)", attempt);
    else if (delay_s >= 0)
        snprintf(extra, sizeof(extra), " (retry in %.0f s)", delay_s);
    size_t tlen = strlen(msg) + strlen(extra) + strlen(at) + 64;
    char *text = malloc(tlen);
    if (text == NULL) return NULL;
    snprintf(text, tlen, "[tenax] %s: %s%s at %s", type_names[type], msg, extra, at);
    json_t *o =
        json_pack("{s:s, s:s, s:b}", "chat_id", chat, "text", text, "disable_web_page_preview", 1);
    free(text);
    if (o == NULL) return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

int tx__notify_redact_url(const char *url, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0) return -1;
    const char *sep = url != NULL ? strstr(url, "://") : NULL;
    if (sep == NULL || sep == url) {
        snprintf(buf, cap, "<redacted>");
        return -1;
    }
    const char *host = sep + 3;
    size_t hlen = strcspn(host, "/?#");
    const char *at = memchr(host, '@', hlen); /* drop user:password@ */
    if (at != NULL) {
        hlen -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    snprintf(buf, cap, "%.*s://%.*s/<redacted>", (int)(sep - url), url, (int)hlen, host);
    return 0;
}

/* Starts one POST; logs only the redacted URL. Returns 1 when started. */
static int post_one(tx_notify_t *n, tx_notify_type_t type, const char *url, const char *shown,
                    const char *json)
{
    if (json != NULL && n->post(n->ud, url, json) == 0) {
        n->stats.sent++;
        tx__log(TX_LOG_INFO, "ai][notify", "type=%s to=%s", type_names[type], shown);
        return 1;
    }
    n->stats.failed++;
    tx__log(TX_LOG_WARN, "ai][notify", "type=%s to=%s could not be sent", type_names[type], shown);
    return 0;
}

tx_notify_outcome_t tx__notify_event(tx_notify_t *n, tx_notify_type_t type, const char *message,
                                     int attempt, double delay_s, tx_ms_t mono_ms, tx_ms_t wall_ms)
{
    if (n == NULL || (unsigned)type >= TX_NOTIFY__LAST) return TX_NOTIFY_OFF;
    int tg = n->tg_token != NULL && n->tg_chat != NULL;
    if (n->webhook == NULL && !tg) return TX_NOTIFY_OFF;
    if (n->has_last[type] && mono_ms >= n->last[type] &&
        mono_ms - n->last[type] < (tx_ms_t)n->interval_s[type] * 1000) {
        n->stats.suppressed++;
        return TX_NOTIFY_SUPPRESSED;
    }
    n->has_last[type] = 1;
    n->last[type] = mono_ms;
    int started = 0;
    char shown[512];
    if (n->webhook != NULL) {
        char *json = tx__notify_webhook_json(type, message, attempt, delay_s, wall_ms);
        tx__notify_redact_url(n->webhook, shown, sizeof(shown));
        started += post_one(n, type, n->webhook, shown, json);
        free(json);
    }
    if (tg) {
        char url[1024];
        char *json = tx__notify_telegram_json(n->tg_chat, type, message, attempt, delay_s, wall_ms);
        tx__notify_telegram_url_redacted(n->tg_api, shown, sizeof(shown));
        if (tx__notify_telegram_url(n->tg_api, n->tg_token, url, sizeof(url)) == 0)
            started += post_one(n, type, url, shown, json);
        else
            started += post_one(n, type, url, shown, NULL); /* bad token or API URL: failed */
        memset(url, 0, sizeof(url));
        free(json);
    }
    if (started == 0) return TX_NOTIFY_FAILED;
    n->stats.by_type_sent[type]++;
    return TX_NOTIFY_SENT;
}

void tx__notify_delivered(tx_notify_t *n, int ok)
{
    if (n == NULL || ok) return;
    n->stats.failed++;
    if (n->stats.sent > 0) n->stats.sent--;
}

void tx__notify_stats(const tx_notify_t *n, tx_notify_stats_t *out)
{
    if (out == NULL) return;
    memset(out, 0, sizeof(*out));
    if (n != NULL) *out = n->stats;
}
