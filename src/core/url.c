/* http(s) URL parsing (url.h): a strict subset of RFC 3986 for the URLs tenax is configured
 * with. No I/O, no allocation. */
#include "core/url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int tx__url_host_is_ip(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int reg_name_char(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
}

const char *tx__url_parse(const char *s, tx_url_t *u)
{
    if (s == NULL) return "not a valid URL";
    memset(u, 0, sizeof *u);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) return "not a valid URL";
    size_t skip;
    if (strncasecmp(s, "http://", 7) == 0) {
        skip = 7;
    } else if (strncasecmp(s, "https://", 8) == 0) {
        skip = 8;
        u->tls = 1;
    } else {
        return strstr(s, "://") != NULL ? "scheme must be http or https" : "not a valid URL";
    }
    const char *a = s + skip;
    size_t alen = strcspn(a, "/?#");
    const char *rest = a + alen;
    if (memchr(a, '@', alen) != NULL)
        return "credentials in a URL are not allowed (use api_key_env)";
    const char *host = a, *port = NULL;
    size_t hlen;
    if (alen > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        if (close == NULL) return "not a valid URL";
        host = a + 1;
        hlen = (size_t)(close - host);
        u->ipv6 = 1;
        const char *after = close + 1;
        if (after < a + alen) {
            if (*after != ':') return "not a valid URL";
            port = after + 1;
        }
    } else {
        const char *colon = memchr(a, ':', alen);
        hlen = colon != NULL ? (size_t)(colon - a) : alen;
        if (colon != NULL) port = colon + 1;
    }
    if (hlen == 0) return "URL has no host";
    if (hlen > TX_URL_HOST_MAX) return "host name too long";
    for (size_t i = 0; i < hlen; i++)
        u->host[i] = (char)tolower((unsigned char)host[i]);
    u->host[hlen] = '\0';
    if (u->ipv6) {
        unsigned char buf[16];
        if (inet_pton(AF_INET6, u->host, buf) != 1) return "not a valid IPv6 address";
    } else {
        for (size_t i = 0; i < hlen; i++)
            if (!reg_name_char((unsigned char)u->host[i])) return "not a valid host name";
    }
    u->port = u->tls ? 443 : 80;
    if (port != NULL && port < a + alen) {
        size_t plen = (size_t)(a + alen - port);
        if (plen > 5) return "port out of range";
        unsigned long v = 0;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)port[i])) return "not a valid port";
            v = v * 10 + (unsigned long)(port[i] - '0');
        }
        if (v == 0 || v > 65535) return "port out of range";
        u->port = (uint16_t)v;
        u->port_given = 1;
    }
    size_t tlen = strcspn(rest, "#");
    u->target = rest;
    u->target_len = tlen;
    u->target_slash = tlen > 0 && rest[0] == '?';
    return NULL;
}

size_t tx__url_password(const char *url, const char **pw)
{
    const char *rest = url != NULL ? strstr(url, "://") : NULL;
    if (rest == NULL) return 0;
    rest += 3;
    const char *q = rest + strcspn(rest, "?");
    const char *at = NULL;
    for (const char *c = rest; c < q; c++)
        if (*c == '@') at = c;
    const char *colon = at != NULL ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
    if (colon == NULL) return 0;
    *pw = colon + 1;
    return (size_t)(at - colon - 1);
}

void tx__url_show(const char *url, char *buf, size_t cap)
{
    if (cap == 0) return;
    if (url == NULL) url = "";
    const char *rest = strstr(url, "://");
    if (strncmp(url, "postgres", 8) != 0 || rest == NULL) {
        snprintf(buf, cap, "%s", url);
        return;
    }
    const char *pw = NULL;
    size_t n = tx__url_password(url, &pw);
    const char *q = rest + 3 + strcspn(rest + 3, "?");
    if (pw != NULL) /* user:password@host… → user:***@host… */
        snprintf(buf, cap, "%.*s***%.*s", (int)(pw - url), url, (int)(q - (pw + n)), pw + n);
    else
        snprintf(buf, cap, "%.*s", (int)(q - url), url);
}
