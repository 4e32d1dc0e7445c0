/* Admin and client bearer-token checks. Tokens are reduced to SHA-256 digests at creation and
 * compared with CRYPTO_memcmp, so the comparison takes the same time whatever the token. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "server/auth.h"

#define DIGEST_LEN 32

typedef struct {
    unsigned char digest[DIGEST_LEN];
    char fingerprint[13];
} client_key_t;

struct tx_auth {
    int has_admin;
    unsigned char admin[DIGEST_LEN];
    size_t nkeys;
    client_key_t *keys;
};

static int sha256(const void *a, size_t alen, const void *b, size_t blen,
                  unsigned char out[DIGEST_LEN])
{
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, a, alen) == 1 && EVP_DigestUpdate(ctx, b, blen) == 1 &&
             EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == DIGEST_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

tx_auth_t *tx__auth_create(const char *admin_token, const char *client_keys)
{
    tx_auth_t *a = calloc(1, sizeof(*a));
    if (a == NULL) return NULL;
    if (admin_token != NULL && admin_token[0] != '\0') {
        if (sha256("", 0, admin_token, strlen(admin_token), a->admin) != 0) goto fail;
        a->has_admin = 1;
    }
    if (client_keys == NULL) return a;
    size_t cap = 1;
    for (const char *p = client_keys; *p; p++)
        cap += *p == ',';
    if (cap > TX_AUTH_MAX_CLIENT_KEYS) cap = TX_AUTH_MAX_CLIENT_KEYS + 1;
    a->keys = calloc(cap, sizeof(*a->keys));
    if (a->keys == NULL) goto fail;
    const char *p = client_keys;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        if (end == NULL) end = p + strlen(p);
        const char *s = p, *e = end;
        while (s < e && is_blank(*s))
            s++;
        while (e > s && is_blank(e[-1]))
            e--;
        if (e > s) {
            if (a->nkeys >= TX_AUTH_MAX_CLIENT_KEYS) goto fail;
            client_key_t *k = &a->keys[a->nkeys];
            unsigned char fp[DIGEST_LEN];
            if (sha256("", 0, s, (size_t)(e - s), k->digest) != 0 ||
                sha256("tenax-client:", 13, s, (size_t)(e - s), fp) != 0)
                goto fail;
            snprintf(k->fingerprint, sizeof(k->fingerprint), "k%02x%02x%02x%02x%02x%x", fp[0],
                     fp[1], fp[2], fp[3], fp[4], fp[5] >> 4);
            a->nkeys++;
        }
        p = *end == ',' ? end + 1 : end;
    }
    return a;
fail:
    tx__auth_destroy(a);
    return NULL;
}

void tx__auth_destroy(tx_auth_t *a)
{
    if (a == NULL) return;
    OPENSSL_cleanse(a->admin, sizeof(a->admin));
    if (a->keys != NULL) OPENSSL_cleanse(a->keys, a->nkeys * sizeof(*a->keys));
    free(a->keys);
    free(a);
}

int tx__auth_admin_enabled(const tx_auth_t *a)
{
    return a != NULL && a->has_admin;
}

size_t tx__auth_client_key_count(const tx_auth_t *a)
{
    return a != NULL ? a->nkeys : 0;
}

int tx__auth_bearer(const char *value, size_t len, const char **tok, size_t *toklen)
{
    if (value == NULL || tok == NULL || toklen == NULL || len < 7) return 0;
    if (strncasecmp(value, "Bearer", 6) != 0 || (value[6] != ' ' && value[6] != '\t')) return 0;
    size_t s = 7;
    while (s < len && (value[s] == ' ' || value[s] == '\t'))
        s++;
    size_t e = len;
    while (e > s && is_blank(value[e - 1]))
        e--;
    if (e == s) return 0;
    for (size_t i = s; i < e; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c <= 0x20 || c == 0x7f) return 0;
    }
    *tok = value + s;
    *toklen = e - s;
    return 1;
}

/* The digest of the bearer token in `authorization`, or -1 when there is none. */
static int presented_digest(const char *authorization, unsigned char out[DIGEST_LEN])
{
    const char *tok;
    size_t n;
    if (authorization == NULL || !tx__auth_bearer(authorization, strlen(authorization), &tok, &n))
        return -1;
    return sha256("", 0, tok, n, out);
}

tx_auth_result_t tx__auth_check_admin(const tx_auth_t *a, const char *authorization)
{
    if (a == NULL) return TX_AUTH_DENIED;
    if (!a->has_admin) return TX_AUTH_ALLOWED;
    unsigned char d[DIGEST_LEN];
    if (presented_digest(authorization, d) != 0) return TX_AUTH_DENIED;
    return CRYPTO_memcmp(d, a->admin, DIGEST_LEN) == 0 ? TX_AUTH_ALLOWED : TX_AUTH_DENIED;
}

tx_auth_result_t tx__auth_check_client(const tx_auth_t *a, const char *authorization,
                                       tx_auth_client_t *who)
{
    if (who != NULL) {
        who->key_index = -1;
        who->fingerprint[0] = '\0';
    }
    if (a == NULL) return TX_AUTH_DENIED;
    if (a->nkeys == 0) return TX_AUTH_ALLOWED;
    unsigned char d[DIGEST_LEN];
    if (presented_digest(authorization, d) != 0) return TX_AUTH_DENIED;
    size_t found = SIZE_MAX;
    for (size_t i = 0; i < a->nkeys; i++) {
        /* no early exit: compare against every key */
        size_t eq = (size_t)(CRYPTO_memcmp(d, a->keys[i].digest, DIGEST_LEN) == 0);
        found = eq ? i : found;
    }
    if (found == SIZE_MAX) return TX_AUTH_DENIED;
    if (who != NULL) {
        who->key_index = (int)found;
        memcpy(who->fingerprint, a->keys[found].fingerprint, sizeof(who->fingerprint));
    }
    return TX_AUTH_ALLOWED;
}

int tx__auth_listen_is_loopback(const char *listen)
{
    if (listen == NULL) return 0;
    char host[256];
    size_t len = strlen(listen);
    const char *hs = listen;
    size_t hl;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':')) return 0;
        hs = listen + 1;
        hl = (size_t)(close - hs);
    } else {
        const char *colon = strchr(listen, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL)
            hl = (size_t)(colon - listen); /* HOST:PORT */
        else
            hl = len; /* HOST, or a bare IPv6 address */
    }
    if (hl == 0 || hl >= sizeof(host)) return 0;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0) return 1;
    struct in_addr v4;
    if (inet_pton(AF_INET, host, &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    struct in6_addr v6;
    if (inet_pton(AF_INET6, host, &v6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&v6)) return 1;
        return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
    }
    return 0;
}

int tx__auth_listen_allowed(const tx_auth_t *a, const char *listen)
{
    return tx__auth_listen_is_loopback(listen) || tx__auth_admin_enabled(a);
}
