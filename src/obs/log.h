/* One line per event on stderr: text by default, JSON with TENAX_LOG_FORMAT=json.
 * Tags (docs/operations.md): "ai][retry" prints as "[ai][retry]". Never pass a secret to these. */
#ifndef TX_OBS_LOG_H
#define TX_OBS_LOG_H

#include <stdarg.h>

typedef enum { TX_LOG_DEBUG, TX_LOG_INFO, TX_LOG_WARN, TX_LOG_ERROR } tx_log_level_t;

/* Reads TENAX_LOG_FORMAT (text|json) and TENAX_LOG_LEVEL (debug|info|warn|error). Safe to call
 * more than once; logging works without it (text, info). */
void tx__log_init(void);

/* Logs `fmt` under `tag` (e.g. "ai][retry", printed "[ai][retry]"; NULL for none). */
void tx__log(tx_log_level_t level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when a message at `level` would be printed. */
int tx__log_enabled(tx_log_level_t level);

#endif
