/* Line-oriented logging to stderr; one write(2) per line so concurrent writers never interleave. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "obs/log.h"
#include "core/utf8.h"

static int log_json;
static tx_log_level_t log_min = TX_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void tx__log_init(void)
{
    const char *f = getenv("TENAX_LOG_FORMAT");
    log_json = f != NULL && strcmp(f, "json") == 0;
    const char *l = getenv("TENAX_LOG_LEVEL");
    if (l != NULL)
        for (int i = 0; i < 4; i++)
            if (strcmp(l, level_names[i]) == 0) log_min = (tx_log_level_t)i;
}

int tx__log_enabled(tx_log_level_t level)
{
    return level >= log_min;
}

/* Appends `s` as JSON string content (without quotes); bytes that are not valid UTF-8 become
 * '?' so every line stays a valid JSON object whatever a client sent. */
static size_t json_escape(char *out, size_t cap, size_t n, const char *s)
{
    size_t left = strlen(s);
    for (; *s != '\0' && n + 7 < cap; s++, left--) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x80) {
            size_t k = tx__utf8_seq((const unsigned char *)s, left);
            if (k == 0) {
                out[n++] = '?';
                continue;
            }
            if (n + k + 7 >= cap) break;
            memcpy(out + n, s, k);
            n += k;
            s += k - 1;
            left -= k - 1;
            continue;
        }
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    return n;
}

static void tx_vlog(tx_log_level_t level, const char *tag, const char *fmt, va_list ap)
{
    if (!tx__log_enabled(level)) return;
    char msg[2048], line[4608], ts[40];
    vsnprintf(msg, sizeof msg, fmt, ap);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", now.tv_nsec / 1000000);
    int n;
    if (log_json) {
        n = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"tag\":\"", ts,
                     level_names[level]);
        size_t k = json_escape(line, sizeof line, (size_t)n, tag ? tag : "");
        k = (size_t)k + (size_t)snprintf(line + k, sizeof line - k, "\",\"msg\":\"");
        k = json_escape(line, sizeof line, k, msg);
        k += (size_t)snprintf(line + k, sizeof line - k, "\"}\n");
        n = (int)(k < sizeof line ? k : sizeof line - 1);
    } else {
        n = snprintf(line, sizeof line, "%s %-5s %s%s%s%s\n", ts, level_names[level],
                     tag ? "[" : "", tag ? tag : "", tag ? "] " : "", msg);
        if (n >= (int)sizeof line) {
            n = sizeof line - 1;
            line[n - 1] = '\n';
        }
    }
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void tx__log(tx_log_level_t level, const char *tag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tx_vlog(level, tag, fmt, ap);
    va_end(ap);
}
