/* Admin notifications (docs/operations.md): a webhook POST and/or a Telegram Bot API message per
 * event, throttled per type (at most one per the type's interval, clock passed in). Sending goes
 * through a caller-supplied, fire-and-forget post function: this module never waits on delivery.
 * Secrets (the bot token in the Telegram URL, webhook paths) never reach a log: use the redacted
 * forms. Single-threaded. */
#ifndef TX_OBS_NOTIFY_H
#define TX_OBS_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "tenax/class.h"
#include "tenax/types.h"

typedef enum {
    TX_NOTIFY_QUOTA_EXCEEDED, /* "quota_exceeded", NOTIFY_QUOTA_INTERVAL_S (900) */
    TX_NOTIFY_RATE_LIMIT,  /* "rate_limit" (also concurrency), NOTIFY_RATE_LIMIT_INTERVAL_S (300) */
    TX_NOTIFY_AUTH_FAILED, /* "auth_failed", NOTIFY_AUTH_INTERVAL_S (900) */
    TX_NOTIFY_ENDPOINT_DOWN, /* "endpoint_down", NOTIFY_ENDPOINT_INTERVAL_S (300) */
    TX_NOTIFY__LAST
} tx_notify_type_t;

/* Default intervals in seconds, by type. */
#define TX_NOTIFY_DEFAULT_INTERVALS                                                                \
    {                                                                                              \
        900, 300, 900, 300                                                                         \
    }
#define TX_NOTIFY_DEFAULT_TELEGRAM_API "https://api.telegram.org"
/* Messages are cut to this many bytes (on a UTF-8 boundary). */
#define TX_NOTIFY_MESSAGE_MAX 1000

/* Starts one POST of `json` (Content-Type: application/json) to `url` and returns at once:
 * 0 when the request was started (or queued), nonzero when it could not be. It must not block
 * and must not log `url` (it may hold a secret). Its later outcome may be reported with
 * tx__notify_delivered. */
typedef int (*tx_notify_post_fn)(void *ud, const char *url, const char *json);

/* Settings; strings are copied by tx__notify_create / tx__notify_configure. */
typedef struct {
    const char *webhook_url;        /* NOTIFY_WEBHOOK_URL; NULL or "" = none */
    const char *telegram_bot_token; /* NOTIFY_TELEGRAM_BOT_TOKEN; both token and chat id needed */
    const char *telegram_chat_id;   /* NOTIFY_TELEGRAM_CHAT_ID */
    const char *telegram_api;       /* NOTIFY_TELEGRAM_API; NULL or "" = api.telegram.org */
    uint32_t interval_s[TX_NOTIFY__LAST]; /* 0 = the default for that type */
} tx_notify_config_t;

typedef enum {
    TX_NOTIFY_SENT,       /* at least one POST was started */
    TX_NOTIFY_SUPPRESSED, /* throttled: one of this type went out less than an interval ago */
    TX_NOTIFY_FAILED,     /* no POST could be started (or no memory) */
    TX_NOTIFY_OFF         /* no destination configured, or a bad argument */
} tx_notify_outcome_t;

typedef struct {
    uint64_t sent;                          /* POSTs started (minus those later reported failed) */
    uint64_t failed;                        /* POSTs that could not start or were reported failed */
    uint64_t suppressed;                    /* events throttled */
    uint64_t by_type_sent[TX_NOTIFY__LAST]; /* events that went out, by type */
} tx_notify_stats_t;

typedef struct tx_notify tx_notify_t;

/* "quota_exceeded" …; "unknown" out of range. Static. */
const char *tx__notify_type_name(tx_notify_type_t type);

/* The notification type for an error class: quota → quota_exceeded, rate_limit and concurrency
 * → rate_limit, auth → auth_failed; -1 for the others (endpoint_down comes from failover, not a
 * class). */
int tx__notify_type_for_class(tx_class_t cls);

/* Fills cfg from the environment (NOTIFY_WEBHOOK_URL, NOTIFY_TELEGRAM_BOT_TOKEN,
 * NOTIFY_TELEGRAM_CHAT_ID, NOTIFY_TELEGRAM_API, NOTIFY_QUOTA_INTERVAL_S,
 * NOTIFY_RATE_LIMIT_INTERVAL_S, NOTIFY_AUTH_INTERVAL_S, NOTIFY_ENDPOINT_INTERVAL_S). The
 * strings point into the environment. Unparsable intervals are left at 0 (default). */
void tx__notify_config_from_env(tx_notify_config_t *cfg);

/* A notifier posting through `post` (required) with `ud`. NULL when out of memory or post is
 * NULL. Free with tx__notify_destroy. */
tx_notify_t *tx__notify_create(const tx_notify_config_t *cfg, tx_notify_post_fn post, void *ud);
void tx__notify_destroy(tx_notify_t *n); /* NULL: no-op */

/* Replaces the settings (a config reload); throttling state and counts are kept. Returns 0, or
 * -1 when out of memory (the old settings stay). */
int tx__notify_configure(tx_notify_t *n, const tx_notify_config_t *cfg);

/* One event at monotonic time `mono_ms` (throttling) and Unix time `wall_ms` (the "at" field).
 * `message` is plain text without secrets; `attempt` < 0 and `delay_s` < 0 are sent as null.
 * Calls post at most once per destination, never waits. An event that reaches post (started
 * or not) starts the type's interval. */
tx_notify_outcome_t tx__notify_event(tx_notify_t *n, tx_notify_type_t type, const char *message,
                                     int attempt, double delay_s, tx_ms_t mono_ms, tx_ms_t wall_ms);

/* Reports the later outcome of a started POST: ok = 0 counts it as failed (and takes it out of
 * sent). */
void tx__notify_delivered(tx_notify_t *n, int ok);

/* Counts for diag. Zeros for NULL. */
void tx__notify_stats(const tx_notify_t *n, tx_notify_stats_t *out);

/* The webhook JSON {"type","message","at","attempt","delay_s"} as a heap string the caller
 * frees, or NULL (bad type, no memory). Invalid UTF-8 in message becomes '?'. */
char *tx__notify_webhook_json(tx_notify_type_t type, const char *message, int attempt,
                              double delay_s, tx_ms_t wall_ms);

/* The Telegram sendMessage URL "<api>/bot<token>/sendMessage" (api NULL or "" = default; a
 * trailing '/' is dropped). It holds the token: never log it. Returns 0, or -1 when it does not
 * fit in cap or token is empty/NULL or holds a byte that is not allowed in a URL path. */
int tx__notify_telegram_url(const char *api, const char *token, char *buf, size_t cap);

/* The same URL with the token replaced by "<redacted>", for logs. Returns 0 or -1. */
int tx__notify_telegram_url_redacted(const char *api, char *buf, size_t cap);

/* The sendMessage JSON body {"chat_id","text","disable_web_page_preview":true} as a heap string
 * the caller frees, or NULL. */
char *tx__notify_telegram_json(const char *chat_id, tx_notify_type_t type, const char *message,
                               int attempt, double delay_s, tx_ms_t wall_ms);

/* Any URL reduced to "scheme://host[:port]/<redacted>" (a path, query or userinfo may hold a
 * secret), for logs. Returns 0, or -1 when the URL has no "scheme://" (then "<redacted>"). */
int tx__notify_redact_url(const char *url, char *buf, size_t cap);

/* Formats Unix ms as RFC 3339 UTC "2026-01-31T12:00:00Z". Returns 0 or -1. */
int tx__notify_rfc3339(tx_ms_t wall_ms, char *buf, size_t cap);

#endif
