/* Bearer-token checks for TENAX_ADMIN_TOKEN and TENAX_CLIENT_KEYS, compared in constant time over
 * SHA-256 digests (so neither content nor length leaks through timing), and the loopback test
 * behind "serve refuses a non-loopback listen without an admin token". Only digests are kept. */
#ifndef TX_SERVER_AUTH_H
#define TX_SERVER_AUTH_H

#include <stddef.h>

#define TX_AUTH_MAX_CLIENT_KEYS 1024

typedef struct tx_auth tx_auth_t;

typedef enum { TX_AUTH_DENIED = 0, TX_AUTH_ALLOWED = 1 } tx_auth_result_t;

/* Who a client is, for rate limiting and metrics. Never contains the key. */
typedef struct {
    int key_index;        /* index in TENAX_CLIENT_KEYS, or -1 when client keys are off */
    char fingerprint[13]; /* "k" + 11 hex of SHA-256("tenax-client:"+key); "" when off */
} tx_auth_client_t;

/* Builds the checker from the admin token (NULL or "" = admin routes open) and the
 * comma-separated client keys (NULL or "" = client auth off; blanks around keys are trimmed,
 * empty entries skipped). Secrets are hashed and not kept. Returns NULL when out of memory or
 * when there are more than TX_AUTH_MAX_CLIENT_KEYS keys. Free with tx__auth_destroy. */
tx_auth_t *tx__auth_create(const char *admin_token, const char *client_keys);

/* Frees it. NULL: no-op. */
void tx__auth_destroy(tx_auth_t *a);

/* 1 when an admin token is configured / when client keys are configured. 0 for NULL. */
int tx__auth_admin_enabled(const tx_auth_t *a);
size_t tx__auth_client_key_count(const tx_auth_t *a);

/* Checks an `Authorization` header value (NULL when the request had none) against the admin
 * token. ALLOWED when no admin token is configured. A NULL checker denies. */
tx_auth_result_t tx__auth_check_admin(const tx_auth_t *a, const char *authorization);

/* Checks an `Authorization` header value against the client keys; fills *who (may be NULL).
 * ALLOWED with key_index -1 when client keys are off (the caller then identifies the client
 * by peer address). Every key is compared, whatever matches, so timing says nothing about which
 * or how many. A NULL checker denies. */
tx_auth_result_t tx__auth_check_client(const tx_auth_t *a, const char *authorization,
                                       tx_auth_client_t *who);

/* Finds the token in an `Authorization` value: scheme "Bearer" (any case), one or more blanks,
 * the token, optional trailing blanks. Points *tok and *toklen at the token inside `value` and
 * returns 1, or returns 0 (not Bearer, no token, a blank or control byte inside the token, NULL).
 */
int tx__auth_bearer(const char *value, size_t len, const char **tok, size_t *toklen);

/* 1 when a listen address ("HOST:PORT", "[V6]:PORT", "HOST" or a bare IPv6 address) names only
 * the loopback interface: 127.0.0.0/8, ::1, ::ffff:127.x.y.z or "localhost". 0 for anything
 * else: 0.0.0.0, ::, an empty host, a name other than localhost, garbage, NULL. */
int tx__auth_listen_is_loopback(const char *listen);

/* 1 when `tenax serve` may listen on `listen`: loopback, or an admin token is set. */
int tx__auth_listen_allowed(const tx_auth_t *a, const char *listen);

#endif
