/* http(s) URL parsing (core/url.h): parts, defaults, IPv6 literals, targets, refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/url.h"

static void parts(void **state)
{
    (void)state;
    tx_url_t u;
    assert_null(tx__url_parse("https://API.Example.com/v1/chat?x=1#frag", &u));
    assert_int_equal(u.tls, 1);
    assert_int_equal(u.port, 443);
    assert_int_equal(u.port_given, 0);
    assert_string_equal(u.host, "api.example.com");
    assert_int_equal(u.target_len, strlen("/v1/chat?x=1"));
    assert_memory_equal(u.target, "/v1/chat?x=1", u.target_len);
    assert_null(tx__url_parse("HTTP://127.0.0.1:8080", &u));
    assert_int_equal(u.tls, 0);
    assert_int_equal(u.port, 8080);
    assert_int_equal(u.port_given, 1);
    assert_int_equal(u.target_len, 0);
    assert_null(tx__url_parse("http://[::1]:9/x", &u));
    assert_int_equal(u.ipv6, 1);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 9);
    assert_null(tx__url_parse("http://h?q=1", &u));
    assert_int_equal(u.target_slash, 1);
    assert_memory_equal(u.target, "?q=1", u.target_len);
    assert_null(tx__url_parse("http://h:/", &u)); /* an empty port is the default */
    assert_int_equal(u.port, 80);
    assert_true(tx__url_host_is_ip("10.0.0.1"));
    assert_true(tx__url_host_is_ip("fe80::1"));
    assert_false(tx__url_host_is_ip("example.com"));
}

static void refusals(void **state)
{
    (void)state;
    tx_url_t u;
    static const char *const bad[] = {
        "ftp://h/",         "h/path",          "https://u:p@h/",
        "https://u@h/",     "http:///x",       "http://:80/",
        "http://h:0/",      "http://h:65536/", "http://h:8x/",
        "http://h:123456/", "http://[::1/",    "http://[zz]/",
        "http://[::1]x/",   "http://h /",      "http://h/a b",
        "http://h\x01/",    "http://h_!/",     NULL,
    };
    for (size_t i = 0; bad[i] != NULL; i++)
        assert_non_null(tx__url_parse(bad[i], &u));
    assert_non_null(tx__url_parse(NULL, &u));
    char longhost[300];
    memset(longhost, 'a', sizeof longhost);
    memcpy(longhost, "http://", 7);
    longhost[sizeof longhost - 1] = '\0';
    assert_non_null(tx__url_parse(longhost, &u));
    assert_string_equal(tx__url_parse("gopher://x", &u), "scheme must be http or https");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parts),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
