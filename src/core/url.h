/* http(s) URLs, parsed without I/O: scheme, host (a name, an IPv4 literal or a bracketed IPv6
 * literal), port and request target. Used by the upstream client and by configuration checks. */
#ifndef TX_CORE_URL_H
#define TX_CORE_URL_H

#include <stddef.h>
#include <stdint.h>

#define TX_URL_HOST_MAX 255

typedef struct {
    int tls;                        /* 1: https */
    int ipv6;                       /* 1: the host was written in brackets */
    int port_given;                 /* 1: the URL names a port */
    uint16_t port;                  /* the URL's port, else 80 / 443 */
    char host[TX_URL_HOST_MAX + 1]; /* lower-cased, without brackets */
    const char *target;             /* into the parsed string: "/path?query" without the
                                       fragment; may start with '?' (see target_slash) */
    size_t target_len;              /* 0: the target is "/" */
    int target_slash;               /* 1: send "/" before target (the URL had "?q" and no path) */
} tx_url_t;

/* Parses `s` (NUL-terminated). Returns NULL and fills *u, or a static reason and leaves *u
 * unspecified. Refused: another scheme, user:password@, an empty or over-long host, a port
 * outside 1..65535, spaces and control bytes anywhere. */
const char *tx__url_parse(const char *s, tx_url_t *u);

/* 1 when `host` is an IPv4 or IPv6 literal (no brackets). */
int tx__url_host_is_ip(const char *host);

/* The password in a "scheme://user:password@host…" URL (any scheme): from the first ':' after
 * "://" to the last '@' before the query. Its length (0: none) and its start in *pw. Pure. */
size_t tx__url_password(const char *url, const char **pw);

/* `url` for a message or a listing into buf: a PostgreSQL URL (postgres:// or postgresql://)
 * loses its password ("user:***@host") and its query (which may hold password=…); any other
 * text is copied as it is. Pure. */
void tx__url_show(const char *url, char *buf, size_t cap);

#endif
