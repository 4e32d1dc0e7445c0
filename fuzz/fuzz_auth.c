/* Fuzzes the Authorization header parser and checks and the listen-address loopback test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tx_auth_t *a;
    if (a == NULL) a = tx__auth_create("admin-token", "key-one,key-two");
    const char *tok;
    size_t n;
    if (tx__auth_bearer((const char *)data, size, &tok, &n) &&
        (tok < (const char *)data || tok + n > (const char *)data + size))
        abort();
    char *s = malloc(size + 1);
    if (s == NULL) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    tx_auth_client_t who;
    tx__auth_check_admin(a, s);
    if (tx__auth_check_client(a, s, &who) == TX_AUTH_ALLOWED &&
        (who.key_index < 0 || who.key_index > 1))
        abort();
    tx__auth_listen_is_loopback(s);
    free(s);
    return 0;
}
