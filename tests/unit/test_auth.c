/* Admin and client bearer checks, client identity, bearer parsing and the loopback test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "server/auth.h"

static void admin_token(void **state)
{
    (void)state;
    tx_auth_t *a = tx__auth_create("s3cret-admin", NULL);
    assert_non_null(a);
    assert_true(tx__auth_admin_enabled(a));
    assert_int_equal(tx__auth_check_admin(a, "Bearer s3cret-admin"), TX_AUTH_ALLOWED);
    assert_int_equal(tx__auth_check_admin(a, "bearer   s3cret-admin  "), TX_AUTH_ALLOWED);
    assert_int_equal(tx__auth_check_admin(a, "Bearer s3cret-admin2"), TX_AUTH_DENIED);
    assert_int_equal(tx__auth_check_admin(a, "Bearer s3cret-admi"), TX_AUTH_DENIED);
    assert_int_equal(tx__auth_check_admin(a, "Basic s3cret-admin"), TX_AUTH_DENIED);
    assert_int_equal(tx__auth_check_admin(a, "s3cret-admin"), TX_AUTH_DENIED);
    assert_int_equal(tx__auth_check_admin(a, "Bearer "), TX_AUTH_DENIED);
    assert_int_equal(tx__auth_check_admin(a, ""), TX_AUTH_DENIED);
    assert_int_equal(tx__auth_check_admin(a, NULL), TX_AUTH_DENIED);
    /* client keys are off: every client is allowed, anonymous */
    tx_auth_client_t who;
    assert_int_equal(tx__auth_check_client(a, NULL, &who), TX_AUTH_ALLOWED);
    assert_int_equal(who.key_index, -1);
    assert_string_equal(who.fingerprint, "");
    tx__auth_destroy(a);

    tx_auth_t *open = tx__auth_create("", "");
    assert_false(tx__auth_admin_enabled(open));
    assert_int_equal(tx__auth_check_admin(open, NULL), TX_AUTH_ALLOWED);
    tx__auth_destroy(open);
    assert_int_equal(tx__auth_check_admin(NULL, "Bearer x"), TX_AUTH_DENIED);
    assert_int_equal(tx__auth_check_client(NULL, "Bearer x", NULL), TX_AUTH_DENIED);
    tx__auth_destroy(NULL);
}

static void client_keys_identity(void **state)
{
    (void)state;
    tx_auth_t *a = tx__auth_create(NULL, " key-one , key-two,,key-three ,");
    assert_non_null(a);
    assert_int_equal(tx__auth_client_key_count(a), 3);
    tx_auth_client_t w1, w2, w3, again;
    assert_int_equal(tx__auth_check_client(a, "Bearer key-one", &w1), TX_AUTH_ALLOWED);
    assert_int_equal(tx__auth_check_client(a, "Bearer key-two", &w2), TX_AUTH_ALLOWED);
    assert_int_equal(tx__auth_check_client(a, "Bearer key-three", &w3), TX_AUTH_ALLOWED);
    assert_int_equal(w1.key_index, 0);
    assert_int_equal(w2.key_index, 1);
    assert_int_equal(w3.key_index, 2);
    assert_int_equal(strlen(w1.fingerprint), 12);
    assert_true(w1.fingerprint[0] == 'k');
    assert_string_not_equal(w1.fingerprint, w2.fingerprint);
    assert_null(strstr(w1.fingerprint, "key")); /* never the key itself */
    /* stable across instances: usable as a metrics label */
    tx_auth_t *b = tx__auth_create(NULL, "key-one");
    assert_int_equal(tx__auth_check_client(b, "Bearer key-one", &again), TX_AUTH_ALLOWED);
    assert_string_equal(again.fingerprint, w1.fingerprint);
    tx__auth_destroy(b);
    tx_auth_client_t w;
    assert_int_equal(tx__auth_check_client(a, "Bearer key-four", &w), TX_AUTH_DENIED);
    assert_int_equal(w.key_index, -1);
    assert_int_equal(tx__auth_check_client(a, "Bearer  key-one", &w), TX_AUTH_ALLOWED);
    assert_int_equal(tx__auth_check_client(a, "Bearer key", &w), TX_AUTH_DENIED);
    assert_int_equal(tx__auth_check_client(a, NULL, &w), TX_AUTH_DENIED);
    /* admin token is off: admin routes open */
    assert_int_equal(tx__auth_check_admin(a, NULL), TX_AUTH_ALLOWED);
    tx__auth_destroy(a);
}

static void bearer_parsing(void **state)
{
    (void)state;
    const char *tok;
    size_t n;
    const char *v = "Bearer abc.def";
    assert_int_equal(tx__auth_bearer(v, strlen(v), &tok, &n), 1);
    assert_int_equal(n, 7);
    assert_memory_equal(tok, "abc.def", 7);
    const char *bad[] = {
        "Bearer", "Bearerx abc", "Bearer a b", "Bearer a\x01", "Token abc", "Bearer \t ", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(tx__auth_bearer(bad[i], strlen(bad[i]), &tok, &n), 0);
    assert_int_equal(tx__auth_bearer(NULL, 3, &tok, &n), 0);
    /* the length bounds the parse: a NUL-free buffer is not read past len */
    char buf[10];
    memcpy(buf, "Bearer xyz", 10);
    assert_int_equal(tx__auth_bearer(buf, 10, &tok, &n), 1);
    assert_int_equal(n, 3);
}

static void loopback_listen(void **state)
{
    (void)state;
    const char *yes[] = {"127.0.0.1:8010", "127.1.2.3:80", "localhost:8010",       "LOCALHOST",
                         "[::1]:8010",     "::1",          "[::ffff:127.0.0.1]:1", "127.0.0.1"};
    const char *no[] = {
        "0.0.0.0:8010",         ":8010", "[::]:8010", "::", "10.0.0.1:80", "example.com:80",
        "localhostx:1",         "[::1",  "[::1]x",    "",   "128.0.0.1:1", "127.0.0.1:80:90",
        "localhost.evil.com:80"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!tx__auth_listen_is_loopback(yes[i])) fail_msg("should be loopback: %s", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (tx__auth_listen_is_loopback(no[i])) fail_msg("should not be loopback: %s", no[i]);
    }
    assert_false(tx__auth_listen_is_loopback(NULL));
    tx_auth_t *open = tx__auth_create(NULL, NULL), *admin = tx__auth_create("t", NULL);
    assert_true(tx__auth_listen_allowed(open, "127.0.0.1:8010"));
    assert_false(tx__auth_listen_allowed(open, "0.0.0.0:8010"));
    assert_true(tx__auth_listen_allowed(admin, "0.0.0.0:8010"));
    tx__auth_destroy(open);
    tx__auth_destroy(admin);
}

static void too_many_keys(void **state)
{
    (void)state;
    static char keys[(TX_AUTH_MAX_CLIENT_KEYS + 2) * 3];
    size_t n = 0;
    for (int i = 0; i < TX_AUTH_MAX_CLIENT_KEYS + 1; i++) {
        keys[n++] = 'a';
        keys[n++] = ',';
    }
    keys[n] = '\0';
    assert_null(tx__auth_create(NULL, keys));
    keys[n - 2] = '\0'; /* exactly the maximum */
    tx_auth_t *a = tx__auth_create(NULL, keys);
    assert_non_null(a);
    assert_int_equal(tx__auth_client_key_count(a), TX_AUTH_MAX_CLIENT_KEYS);
    tx__auth_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(admin_token),    cmocka_unit_test(client_keys_identity),
        cmocka_unit_test(bearer_parsing), cmocka_unit_test(loopback_listen),
        cmocka_unit_test(too_many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
