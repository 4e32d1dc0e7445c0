/* How long a provider asks us to wait: Retry-After (delta-seconds or HTTP-date), retry-after-ms,
 * OpenAI's x-ratelimit-reset-* durations and "try again in 20s" in a message. Pure functions,
 * no I/O, no allocation, thread-safe. Every result is in milliseconds; -1 means "no usable
 * value": garbage, negatives, overflow and anything above TX_RETRY_AFTER_MAX_MS are ignored. */
#ifndef TENAX_RETRY_AFTER_H
#define TENAX_RETRY_AFTER_H

#include <stddef.h>

#include "tenax/types.h"

/* Values above one day are never trusted. */
#define TX_RETRY_AFTER_MAX_MS ((tx_ms_t)86400000)

/* A Retry-After header value: delta-seconds ("20", "1.5" is refused per RFC 7231) or an
 * HTTP-date (IMF-fixdate, and the obsolete RFC 850 / asctime forms). A date in the past gives 0.
 * now_unix_ms is the current wall-clock time. NULL or garbage gives -1. */
tx_ms_t tx_retry_after_header(const char *value, tx_ms_t now_unix_ms);

/* A retry-after-ms header value: a non-negative integer or decimal number of milliseconds
 * ("1500", "1500.5" rounds up). NULL or garbage gives -1. */
tx_ms_t tx_retry_after_ms_header(const char *value);

/* A Go-style duration as in x-ratelimit-reset-requests: "1s", "6m0s", "20ms", "1h2m3.5s",
 * "250us", "0.5s". Units h, m, s, ms, us, ns; at least one number+unit; no sign. Garbage -1. */
tx_ms_t tx_retry_after_duration(const char *s, size_t len);

/* The first "try again in <duration>" (case-insensitive) in a message, e.g. OpenAI's
 * "Please try again in 20s." or "in 1.5s"; a bare number counts as seconds. -1 when none. */
tx_ms_t tx_retry_after_from_message(const char *msg, size_t len);

/* The effective wait of a response from its headers (names compare case-insensitively):
 * retry-after-ms beats retry-after; only when neither gives a usable value, and only for a 429,
 * x-ratelimit-reset-requests / -tokens are used: the one whose x-ratelimit-remaining-* is "0",
 * else the larger of the two. h may be NULL when nh is 0. -1 when nothing usable. */
tx_ms_t tx_retry_after_effective(int status, const tx_header_t *h, size_t nh, tx_ms_t now_unix_ms);

#endif
