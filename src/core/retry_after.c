/* Parsing of the wait a provider asks for (see include/tenax/retry_after.h): delay seconds,
 * HTTP-dates in the three forms HTTP allows (IMF-fixdate, RFC 850, asctime), and milliseconds.
 * Small, bounded parsing; no locale, no time zone database. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <stdint.h>
#include <stdio.h>

#include "tenax/retry_after.h"

static int is_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int month_of(const char *m)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (strlen(m) != 3) return -1;
    for (int i = 0; i < 12; i++)
        if (memcmp(names + 3 * i, m, 3) == 0) return i + 1;
    return -1;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* An HTTP-date (RFC 9110 5.6.7) in seconds since the epoch, or -1. */
static int64_t http_date(const char *s)
{
    int d = 0, y = 0, hh = 0, mm = 0, ss = 0, n = 0;
    char mon[4] = "";
    size_t len = strlen(s);
    if (sscanf(s, "%*[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", &d, mon, &y, &hh, &mm, &ss,
               &n) == 6 &&
        (size_t)n == len) {
        /* IMF-fixdate */
    } else if (n = 0, sscanf(s, "%*[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", &d, mon, &y,
                             &hh, &mm, &ss, &n) == 6 &&
                          (size_t)n == len) {
        y += y < 70 ? 2000 : 1900; /* RFC 850's two-digit year */
    } else if (n = 0, sscanf(s, "%*[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", mon, &d, &hh, &mm,
                             &ss, &y, &n) == 6 &&
                          (size_t)n == len) {
        /* asctime */
    } else {
        return -1;
    }
    int m = month_of(mon);
    if (m < 0 || y < 1970 || y > 9999 || d < 1 || d > days_in_month(y, m) || hh > 23 || mm > 59 ||
        ss > 60 || hh < 0 || mm < 0 || ss < 0)
        return -1;
    if (ss == 60) ss = 59; /* a leap second */
    return days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

/* Accepts a value in ms as a double; -1 unless finite, >= 0 and within a day. */
static tx_ms_t bounded(double ms)
{
    if (!isfinite(ms) || ms < 0 || ms > (double)TX_RETRY_AFTER_MAX_MS) return -1;
    return (tx_ms_t)ceil(ms);
}

/* Trims the value; returns its length and sets *start. */
static size_t trim(const char *v, const char **start)
{
    size_t len = strlen(v);
    while (len > 0 && is_ws((unsigned char)*v)) {
        v++;
        len--;
    }
    while (len > 0 && is_ws((unsigned char)v[len - 1]))
        len--;
    *start = v;
    return len;
}

tx_ms_t tx_retry_after_header(const char *value, tx_ms_t now_unix_ms)
{
    if (value == NULL) return -1;
    const char *v;
    size_t len = trim(value, &v);
    if (len == 0 || len > 64) return -1;
    if (isdigit((unsigned char)v[0])) {
        size_t i = 0;
        while (i < len && isdigit((unsigned char)v[i]))
            i++;
        if (i == len) {
            if (len > 9) return -1; /* > 31 years: overflow-safe early refusal */
            long secs = 0;
            for (size_t k = 0; k < len; k++)
                secs = secs * 10 + (v[k] - '0');
            return bounded((double)secs * 1000.0);
        }
    }
    if (!isalpha((unsigned char)v[0])) return -1; /* negatives, decimals, junk */
    char buf[65];
    memcpy(buf, v, len);
    buf[len] = '\0';
    int64_t t = http_date(buf);
    if (t < 0) return -1;
    double ms = (double)t * 1000.0 - (double)now_unix_ms;
    if (ms < 0) return 0;
    return bounded(ms);
}

tx_ms_t tx_retry_after_ms_header(const char *value)
{
    if (value == NULL) return -1;
    const char *v;
    size_t len = trim(value, &v);
    if (len == 0 || len > 32 || !isdigit((unsigned char)v[0])) return -1;
    char buf[33];
    memcpy(buf, v, len);
    buf[len] = '\0';
    char *end = NULL;
    double ms = strtod(buf, &end);
    if (end == buf || *end != '\0') return -1;
    for (size_t i = 0; i < len; i++) /* strtod also takes hex, inf and exponents: refuse */
        if (!isdigit((unsigned char)buf[i]) && buf[i] != '.') return -1;
    return bounded(ms);
}

tx_ms_t tx_retry_after_duration(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > 64) return -1;
    double total = 0;
    size_t i = 0;
    int parts = 0;
    while (i < len) {
        size_t start = i;
        double num = 0, scale = 1;
        int digits = 0, dot = 0;
        while (i < len && (isdigit((unsigned char)s[i]) || (s[i] == '.' && !dot))) {
            if (s[i] == '.') {
                dot = 1;
            } else {
                digits++;
                if (dot) {
                    scale /= 10;
                    num += (s[i] - '0') * scale;
                } else {
                    num = num * 10 + (s[i] - '0');
                }
            }
            i++;
        }
        if (digits == 0 || i == start) return -1;
        double unit;
        if (i + 1 < len && s[i] == 'm' && s[i + 1] == 's') {
            unit = 1;
            i += 2;
        } else if (i + 1 < len && s[i] == 'u' && s[i + 1] == 's') {
            unit = 0.001;
            i += 2;
        } else if (i + 1 < len && s[i] == 'n' && s[i + 1] == 's') {
            unit = 0.000001;
            i += 2;
        } else if (i < len && s[i] == 'h') {
            unit = 3600000;
            i++;
        } else if (i < len && s[i] == 'm') {
            unit = 60000;
            i++;
        } else if (i < len && s[i] == 's') {
            unit = 1000;
            i++;
        } else {
            return -1;
        }
        total += num * unit;
        if (total > (double)TX_RETRY_AFTER_MAX_MS) return -1;
        parts++;
    }
    return parts > 0 ? bounded(total) : -1;
}

tx_ms_t tx_retry_after_from_message(const char *msg, size_t len)
{
    static const char needle[] = "try again in ";
    const size_t nl = sizeof needle - 1;
    if (msg == NULL || len < nl) return -1;
    for (size_t i = 0; i + nl <= len; i++) {
        if ((msg[i] | 0x20) != 't' || strncasecmp(msg + i, needle, nl) != 0) continue;
        size_t a = i + nl, b = a;
        while (b < len && b - a < 32 && (isalnum((unsigned char)msg[b]) || msg[b] == '.'))
            b++;
        while (b > a && msg[b - 1] == '.')
            b--; /* sentence end */
        if (b == a) continue;
        size_t k = a;
        while (k < b && (isdigit((unsigned char)msg[k]) || msg[k] == '.'))
            k++;
        if (k == b) { /* bare number: seconds */
            char buf[40];
            memcpy(buf, msg + a, b - a);
            buf[b - a] = 's';
            tx_ms_t r = tx_retry_after_duration(buf, b - a + 1);
            if (r >= 0) return r;
            continue;
        }
        tx_ms_t r = tx_retry_after_duration(msg + a, b - a);
        if (r >= 0) return r;
        /* "in 20 seconds" style: number then a word */
    }
    return -1;
}

/* The value of the first header called `name` (lower-case ASCII letters, digits and '-'). The
 * first letters are compared before the whole name, since most headers differ there. */
static const char *header(const tx_header_t *h, size_t nh, const char *name)
{
    for (size_t i = 0; i < nh; i++)
        if (h[i].name != NULL && h[i].value != NULL && (h[i].name[0] | 0x20) == name[0] &&
            strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

static tx_ms_t duration_header(const char *v)
{
    if (v == NULL) return -1;
    const char *s;
    size_t len = trim(v, &s);
    return tx_retry_after_duration(s, len);
}

static int is_zero(const char *v)
{
    if (v == NULL) return 0;
    const char *s;
    size_t len = trim(v, &s);
    return len == 1 && s[0] == '0';
}

tx_ms_t tx_retry_after_effective(int status, const tx_header_t *h, size_t nh, tx_ms_t now_unix_ms)
{
    if (h == NULL) return -1;
    tx_ms_t r = tx_retry_after_ms_header(header(h, nh, "retry-after-ms"));
    if (r >= 0) return r;
    r = tx_retry_after_header(header(h, nh, "retry-after"), now_unix_ms);
    if (r >= 0 || status != 429) return r;
    tx_ms_t req = duration_header(header(h, nh, "x-ratelimit-reset-requests"));
    tx_ms_t tok = duration_header(header(h, nh, "x-ratelimit-reset-tokens"));
    int req0 = is_zero(header(h, nh, "x-ratelimit-remaining-requests"));
    int tok0 = is_zero(header(h, nh, "x-ratelimit-remaining-tokens"));
    if (req0 && !tok0 && req >= 0) return req;
    if (tok0 && !req0 && tok >= 0) return tok;
    return req > tok ? req : tok;
}
