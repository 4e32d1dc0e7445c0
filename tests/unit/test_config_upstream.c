/* The upstream client's configuration keys: AI_CA_FILE (any path; read when the client starts)
 * and AI_PROXY (an http:// URL or host:port; https proxies, credentials and junk refused). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#define ENV(...) (&(tx_config_env_t){tx__config_envp_lookup, (char *[]){__VA_ARGS__, NULL}})

static tx_err_t load(const tx_config_env_t *env, const char *text, tx_config_t **c, tx_error_t *err)
{
    *c = NULL;
    memset(err, 0, sizeof *err);
    return tx__config_load_text(env, text, text ? strlen(text) : 0, c, err);
}

static void keys(void **state)
{
    (void)state;
    tx_config_t *c;
    tx_error_t err;
    assert_int_equal(load(ENV("UNRELATED=1"), NULL, &c, &err), TX_EOK);
    assert_string_equal(c->ai_ca_file, "");
    assert_string_equal(c->ai_proxy, "");
    tx__config_unref(c);
    assert_int_equal(
        load(ENV("AI_CA_FILE=/etc/tenax/ca.pem", "AI_PROXY=http://proxy.lan:3128"), NULL, &c, &err),
        TX_EOK);
    assert_string_equal(c->ai_ca_file, "/etc/tenax/ca.pem");
    assert_string_equal(c->ai_proxy, "http://proxy.lan:3128");
    assert_int_equal(c->source[TX_CFG_AI_PROXY], TX_CONFIG_SRC_ENV);
    tx__config_unref(c);
    assert_int_equal(load(ENV("UNRELATED=1"), "{\"AI_PROXY\":\"10.0.0.1:8080\"}", &c, &err),
                     TX_EOK);
    assert_string_equal(c->ai_proxy, "10.0.0.1:8080");
    tx__config_unref(c);
    static const char *const bad[] = {"{\"AI_PROXY\":\"https://p.lan\"}",
                                      "{\"AI_PROXY\":\"HTTPS://p.lan\"}",
                                      "{\"AI_PROXY\":\"http://u:pw@p.lan\"}",
                                      "{\"AI_PROXY\":\"ftp://p\"}",
                                      "{\"AI_PROXY\":\"p lan\"}",
                                      NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        assert_int_not_equal(load(ENV("UNRELATED=1"), bad[i], &c, &err), TX_EOK);
        assert_null(c);
        assert_non_null(strstr(err.msg, "AI_PROXY"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(keys)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
