/* Layered configuration (docs/config.md): defaults, env and kv layers, sources, lists, endpoints,
 * bounds, types, secrets, diff and reference counts. The environment is passed explicitly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

#define ENV(...) (&(tx_config_env_t){tx__config_envp_lookup, (char *[]){__VA_ARGS__, NULL}})
#define NOENV ENV("UNRELATED=1")

static tx_config_t *load_ok(const tx_config_env_t *env, const char *text)
{
    tx_config_t *c = NULL;
    tx_error_t err = {0};
    tx_err_t rc = tx__config_load_text(env, text, text ? strlen(text) : 0, &c, &err);
    if (rc != TX_EOK) fail_msg("unexpected error: %s", err.msg);
    assert_non_null(c);
    return c;
}

/* Loads what must fail; returns the code and checks the message names every `needle`. */
static tx_err_t load_bad(const tx_config_env_t *env, const char *text, const char *n1,
                         const char *n2)
{
    tx_config_t *c = NULL;
    tx_error_t err = {0};
    tx_err_t rc = tx__config_load_text(env, text, text ? strlen(text) : 0, &c, &err);
    assert_int_not_equal(rc, TX_EOK);
    assert_null(c);
    assert_non_null(err.msg);
    if (n1 != NULL && strstr(err.msg, n1) == NULL) fail_msg("'%s' lacks '%s'", err.msg, n1);
    if (n2 != NULL && strstr(err.msg, n2) == NULL) fail_msg("'%s' lacks '%s'", err.msg, n2);
    return rc;
}

static void defaults(void **state)
{
    (void)state;
    tx_config_t *c = load_ok(NOENV, NULL);
    assert_int_equal(c->endpoints.n, 1);
    assert_string_equal(c->endpoints.v[0].url, "https://api.openai.com/v1");
    assert_string_equal(c->endpoints.v[0].name, "api.openai.com");
    assert_null(c->endpoints.v[0].api_key);
    assert_string_equal(c->ai_model, "gpt-4o-mini");
    assert_int_equal(c->ai_fallback_models.n, 0);
    assert_int_equal(c->ai_max_concurrency, 4);
    assert_int_equal(c->ai_queue_max_size, 64);
    assert_int_equal(c->ai_timeout_ms, 18000);
    assert_int_equal(c->ai_retry_jitter, TX_JITTER_FULL);
    assert_int_equal(c->job_max_attempts, 5);
    assert_int_equal(c->ai_retry_budget_percent, 20);
    assert_int_equal(c->ai_retry_budget_min_per_s, 10);
    assert_int_equal(tx__config_adaptive(c), 1);
    assert_int_equal(c->max_body_bytes, 4 * 1024 * 1024);
    assert_string_equal(c->listen, "127.0.0.1:8010");
    assert_string_equal(c->store, "sqlite:tenax.db");
    assert_int_equal(c->job_probe_interval_ms, 60000);
    assert_string_equal(c->notify_webhook_url, "");
    assert_null(c->api_key);
    assert_null(c->path);
    for (int i = 0; i < TX_CFG__LAST; i++)
        assert_int_equal(c->source[i], TX_CONFIG_SRC_DEFAULT);
    tx__config_unref(c);
}

static void env_overrides_and_file_overrides_env(void **state)
{
    (void)state;
    tx_config_t *c = load_ok(ENV("AI_MAX_CONCURRENCY=12", "AI_MODEL=m-env", "AI_RETRY_JITTER=none",
                                 "TAGGING_MAX_ATTEMPTS=7", "JOB_BATCH_SIZE=3"),
                             "{\"AI_MODEL\":\"m-kv\",\"AI_TIMEOUT_MS\":\"5000\"}");
    assert_int_equal(c->ai_max_concurrency, 12);
    assert_int_equal(c->source[TX_CFG_AI_MAX_CONCURRENCY], TX_CONFIG_SRC_ENV);
    assert_string_equal(c->ai_model, "m-kv");
    assert_int_equal(c->source[TX_CFG_AI_MODEL], TX_CONFIG_SRC_KV);
    assert_int_equal(c->ai_timeout_ms, 5000);
    assert_int_equal(c->source[TX_CFG_AI_TIMEOUT_MS], TX_CONFIG_SRC_KV);
    assert_int_equal(c->ai_retry_jitter, TX_JITTER_NONE);
    assert_int_equal(c->job_max_attempts, 7); /* alias */
    assert_int_equal(c->source[TX_CFG_JOB_MAX_ATTEMPTS], TX_CONFIG_SRC_ENV);
    assert_int_equal(c->job_batch_size, 3);
    assert_int_equal(c->source[TX_CFG_AI_DEADLINE_MS], TX_CONFIG_SRC_DEFAULT);
    tx__config_unref(c);
    /* canonical name beats the alias in the environment; empty counts as unset */
    c = load_ok(ENV("JOB_BATCH_SIZE=4", "TAGGING_BATCH_SIZE=9", "AI_MODEL="), NULL);
    assert_int_equal(c->job_batch_size, 4);
    assert_string_equal(c->ai_model, "gpt-4o-mini");
    tx__config_unref(c);
    /* file aliases */
    c = load_ok(NOENV, "{\"TAGGING_BATCH_SIZE\":20}");
    assert_int_equal(c->job_batch_size, 20);
    assert_int_equal(c->source[TX_CFG_JOB_BATCH_SIZE], TX_CONFIG_SRC_KV);
    tx__config_unref(c);
    load_bad(NOENV, "{\"TAGGING_BATCH_SIZE\":20,\"JOB_BATCH_SIZE\":3}", "JOB_BATCH_SIZE",
             "TAGGING_BATCH_SIZE");
}

static void lists_both_forms(void **state)
{
    (void)state;
    tx_config_t *c = load_ok(ENV("AI_FALLBACK_MODELS= gpt-4o , claude ,,x",
                                 "AI_BASE_URLS=https://a.example/v1,http://b.example:8080/v1"),
                             NULL);
    assert_int_equal(c->ai_fallback_models.n, 3);
    assert_string_equal(c->ai_fallback_models.v[0], "gpt-4o");
    assert_string_equal(c->ai_fallback_models.v[1], "claude");
    assert_string_equal(c->ai_fallback_models.v[2], "x");
    assert_int_equal(c->endpoints.n, 2);
    assert_string_equal(c->endpoints.v[1].url, "http://b.example:8080/v1");
    assert_string_equal(c->endpoints.v[1].name, "b.example");
    tx__config_unref(c);
    c = load_ok(ENV("AI_FALLBACK_MODELS=[\"a,b\",\"c\"]"), NULL);
    assert_int_equal(c->ai_fallback_models.n, 2);
    assert_string_equal(c->ai_fallback_models.v[0], "a,b");
    tx__config_unref(c);
    c = load_ok(NOENV, "{\"AI_FALLBACK_MODELS\":[\"m1\"]}");
    assert_int_equal(c->ai_fallback_models.n, 1);
    assert_string_equal(c->ai_fallback_models.v[0], "m1");
    tx__config_unref(c);
    /* a list given as a string in the file reads like the environment's form */
    c = load_ok(NOENV, "{\"AI_FALLBACK_MODELS\":\"m1, m2\"}");
    assert_int_equal(c->ai_fallback_models.n, 2);
    assert_string_equal(c->ai_fallback_models.v[1], "m2");
    tx__config_unref(c);
    c = load_ok(NOENV, "{\"AI_FALLBACK_MODELS\":\"gpt-4o\"}");
    assert_int_equal(c->ai_fallback_models.n, 1);
    tx__config_unref(c);
    load_bad(NOENV, "{\"AI_FALLBACK_MODELS\":7}", "AI_FALLBACK_MODELS", "array");
    load_bad(ENV("AI_FALLBACK_MODELS=[\"a\""), NULL, "AI_FALLBACK_MODELS", "JSON");
    load_bad(NOENV, "{\"AI_FALLBACK_MODELS\":[\"\"]}", "AI_FALLBACK_MODELS", "1..256");
    load_bad(NOENV, "{\"AI_FALLBACK_MODELS\":[1]}", "AI_FALLBACK_MODELS", "entry 0");
    load_bad(NOENV,
             "{\"AI_FALLBACK_MODELS\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}",
             "AI_FALLBACK_MODELS", "0..8");
    load_bad(NOENV, "{\"AI_BASE_URLS\":[]}", "AI_BASE_URLS", "1..16");
    load_bad(ENV("AI_BASE_URLS= , "), NULL, "AI_BASE_URLS", "1..16");
}

static void endpoint_objects_and_keys(void **state)
{
    (void)state;
    tx_config_t *c = load_ok(
        ENV("AI_API_KEY=sk-global", "OR_KEY=sk-or", "EMPTY_KEY="),
        "{\"aiBaseUrls\":[\"https://api.openai.com/v1\","
        "{\"url\":\"https://openrouter.ai/api/v1\",\"name\":\"or\",\"api_key_env\":\"OR_KEY\"},"
        "{\"url\":\"http://localhost:11434/v1\",\"api_key_env\":\"EMPTY_KEY\"}]}");
    assert_int_equal(c->endpoints.n, 3);
    assert_string_equal(c->endpoints.v[0].api_key, "sk-global");
    assert_null(c->endpoints.v[0].api_key_env);
    assert_string_equal(c->endpoints.v[1].name, "or");
    assert_string_equal(c->endpoints.v[1].api_key_env, "OR_KEY");
    assert_string_equal(c->endpoints.v[1].api_key, "sk-or");
    assert_string_equal(c->endpoints.v[2].name, "localhost");
    assert_null(c->endpoints.v[2].api_key); /* no fallback to the global key */
    assert_int_equal(c->source[TX_CFG_AI_BASE_URLS], TX_CONFIG_SRC_KV);
    tx__config_unref(c);
    c = load_ok(ENV("OPENAI_API_KEY=sk-alias"), NULL);
    assert_string_equal(c->api_key, "sk-alias");
    assert_string_equal(c->endpoints.v[0].api_key, "sk-alias");
    tx__config_unref(c);
    load_bad(NOENV, "{\"AI_BASE_URLS\":[{\"name\":\"x\"}]}", "AI_BASE_URLS[0]", "url");
    load_bad(NOENV, "{\"AI_BASE_URLS\":[{\"url\":\"https://a/\",\"api_key\":\"sk\"}]}", "api_key",
             "environment");
    load_bad(NOENV, "{\"AI_BASE_URLS\":[\"ftp://a.example/\"]}", "AI_BASE_URLS[0]", "http");
    load_bad(NOENV, "{\"AI_BASE_URLS\":[\"not a url\"]}", "AI_BASE_URLS[0]", "URL");
    load_bad(NOENV, "{\"AI_BASE_URLS\":[\"https://u:p@a.example/\"]}", "AI_BASE_URLS[0]",
             "credentials");
    load_bad(NOENV, "{\"AI_BASE_URLS\":[{\"url\":\"https://a/\",\"api_key_env\":\"1 bad\"}]}",
             "AI_BASE_URLS[0]", "api_key_env");
    load_bad(NOENV, "{\"AI_BASE_URLS\":[{\"url\":\"https://a/\",\"name\":7}]}",
             "AI_BASE_URLS[0].name", "string");
    load_bad(NOENV, "{\"AI_BASE_URLS\":[42]}", "AI_BASE_URLS[0]", "object");
}

/* Every integer key rejects one below its minimum and one above its maximum, in both layers. */
static void every_bound_rejected(void **state)
{
    (void)state;
    json_t *all;
    tx_config_t *c = load_ok(NOENV, NULL);
    all = tx__config_to_json(c);
    tx__config_unref(c);
    const char *key;
    json_t *e;
    int checked = 0;
    json_object_foreach(all, key, e)
    {
        json_t *v = json_object_get(e, "value");
        if (!json_is_integer(v)) continue;
        char text[160], envs[160], lo_msg[64];
        /* find bounds by asking the loader: out-of-range message carries "lo..hi" */
        snprintf(text, sizeof text, "{\"%s\": 99999999999}", key);
        tx_config_t *tmp = NULL;
        tx_error_t err = {0};
        assert_int_equal(tx__config_load_text(NOENV, text, strlen(text), &tmp, &err), TX_ERANGE);
        assert_non_null(strstr(err.msg, key));
        assert_non_null(strstr(err.msg, "99999999999"));
        const char *dots = strstr(err.msg, "..");
        assert_non_null(dots);
        const char *p = dots;
        while (p > err.msg && (p[-1] == '-' || (p[-1] >= '0' && p[-1] <= '9')))
            p--;
        long long lo = strtoll(p, NULL, 10), hi = strtoll(dots + 2, NULL, 10);
        snprintf(lo_msg, sizeof lo_msg, "%lld..%lld", lo, hi);
        /* the bound itself loads (unless a cross-key rule forbids it) */
        snprintf(text, sizeof text, "{\"%s\": %lld}", key, hi);
        tmp = NULL;
        if (strcmp(key, "AI_RETRY_DELAY_MS") != 0 && strcmp(key, "JOB_PARK_BASE_MS") != 0) {
            assert_int_equal(tx__config_load_text(NOENV, text, strlen(text), &tmp, &err), TX_EOK);
            json_t *got = tx__config_to_json(tmp);
            json_t *ke = json_object_get(got, key);
            assert_int_equal(json_integer_value(json_object_get(ke, "value")), hi);
            assert_string_equal(json_string_value(json_object_get(ke, "source")), "kv");
            json_decref(got);
            tx__config_unref(tmp);
        }
        snprintf(text, sizeof text, "{\"%s\": %lld}", key, hi + 1);
        load_bad(NOENV, text, key, lo_msg);
        snprintf(text, sizeof text, "{\"%s\": \"%lld\"}", key, lo - 1);
        load_bad(NOENV, text, key, lo_msg);
        snprintf(envs, sizeof envs, "%s=%lld", key, lo - 1);
        load_bad(ENV(envs), NULL, key, lo_msg);
        checked++;
    }
    json_decref(all);
    assert_int_equal(checked, 28); /* every INT key of the table */
    /* named bounds from docs/config.md */
    load_bad(NOENV, "{\"AI_MAX_CONCURRENCY\":4097}", "AI_MAX_CONCURRENCY", "1..4096");
    load_bad(NOENV, "{\"AI_RETRY_MAX\":0}", "AI_RETRY_MAX", "1..20");
    load_bad(NOENV, "{\"AI_RETRY_BUDGET_PERCENT\":1001}", "AI_RETRY_BUDGET_PERCENT", "0..1000");
    load_bad(NOENV, "{\"AI_RETRY_BUDGET_MIN_PER_S\":100001}", "AI_RETRY_BUDGET_MIN_PER_S",
             "0..100000");
    load_bad(NOENV, "{\"AI_ADAPTIVE_CONCURRENCY\":\"maybe\"}", "AI_ADAPTIVE_CONCURRENCY",
             "must be on or off");
    load_bad(NOENV, "{\"TENAX_MAX_BODY_BYTES\":1023}", "TENAX_MAX_BODY_BYTES", "1024..1073741824");
    load_bad(NOENV, "{\"AI_MODEL\":\"\"}", "AI_MODEL", "1..256");
    load_bad(NOENV, "{\"AI_RETRY_DELAY_MS\":40000}", "AI_RETRY_DELAY_MS", "AI_RETRY_MAX_DELAY_MS");
}

static void wrong_types_and_bad_values(void **state)
{
    (void)state;
    assert_int_equal(
        load_bad(NOENV, "{\"AI_MAX_CONCURRENCY\":1.5}", "AI_MAX_CONCURRENCY", "integer"),
        TX_EINVAL);
    load_bad(NOENV, "{\"AI_MAX_CONCURRENCY\":true}", "AI_MAX_CONCURRENCY", "integer");
    load_bad(NOENV, "{\"AI_MAX_CONCURRENCY\":\"12abc\"}", "AI_MAX_CONCURRENCY", "12abc");
    load_bad(NOENV, "{\"AI_MODEL\":5}", "AI_MODEL", "string");
    load_bad(NOENV, "{\"AI_RETRY_JITTER\":\"lots\"}", "AI_RETRY_JITTER", "decorrelated");
    load_bad(ENV("AI_MAX_CONCURRENCY=12abc"), NULL, "AI_MAX_CONCURRENCY", "12abc");
    load_bad(ENV("AI_MAX_CONCURRENCY= 12"), NULL, "AI_MAX_CONCURRENCY", "integer");
    load_bad(ENV("AI_TIMEOUT_MS=99999999999999999999999"), NULL, "AI_TIMEOUT_MS", "integer");
    load_bad(ENV("AI_MODEL=\xff\xfe"), NULL, "AI_MODEL", "UTF-8");
    load_bad(NOENV, "{\"TENAX_LISTEN\":\"localhost\"}", "TENAX_LISTEN", "HOST:PORT");
    load_bad(NOENV, "{\"TENAX_LISTEN\":\"h:70000\"}", "TENAX_LISTEN", "HOST:PORT");
    load_bad(NOENV, "{\"TENAX_STORE\":\"mysql://x\"}", "TENAX_STORE", "sqlite");
    load_bad(NOENV, "{\"NOTIFY_WEBHOOK_URL\":\"gopher://x\"}", "NOTIFY_WEBHOOK_URL", "http");
    load_bad(NOENV, "{\"NO_SUCH_KEY\":1}", "unknown key", "NO_SUCH_KEY");
    tx_config_t *c = load_ok(ENV("TENAX_LISTEN=[::1]:9000", "TENAX_STORE=postgres://u@h/db"),
                             "{\"NOTIFY_WEBHOOK_URL\":\"https://hooks.example/x\"}");
    assert_string_equal(c->listen, "[::1]:9000");
    assert_string_equal(c->notify_webhook_url, "https://hooks.example/x");
    tx__config_unref(c);
}

static void invalid_json_and_files(void **state)
{
    (void)state;
    assert_int_equal(load_bad(NOENV, "{\"AI_MODEL\":", "JSON", NULL), TX_EPARSE);
    assert_int_equal(load_bad(NOENV, "[1,2]", "object", NULL), TX_EPARSE);
    assert_int_equal(load_bad(NOENV, "\"x\"", "object", NULL), TX_EPARSE);
    load_bad(NOENV, "{\"AI_MODEL\":\"a\",\"AI_MODEL\":\"b\"}", "JSON", NULL);
    load_bad(NOENV, "{\"AI_MODEL\":\"\xc3\x28\"}", "JSON", NULL);
    tx_config_t *c = NULL;
    tx_error_t err = {0};
    assert_int_equal(tx__config_load(NOENV, "/nonexistent/tenax.json", &c, &err), TX_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/tenax.json"));
    assert_null(c);
    char path[] = "/tmp/tx-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"AI_RETRY_MAX\": 9}\n", f);
    fclose(f);
    /* the file comes from TENAX_CONFIG when no path is given */
    char envs[64];
    snprintf(envs, sizeof envs, "TENAX_CONFIG=%s", path);
    assert_int_equal(tx__config_load(ENV(envs, "AI_RETRY_MAX=2"), NULL, &c, &err), TX_EOK);
    assert_int_equal(c->ai_retry_max, 9);
    assert_string_equal(c->path, path);
    tx__config_unref(c);
    f = fopen(path, "w");
    fclose(f);
    c = NULL;
    assert_int_equal(tx__config_load(NOENV, path, &c, &err), TX_EPARSE);
    assert_non_null(strstr(err.msg, "empty"));
    unlink(path);
    assert_int_equal(tx__config_load_text(NOENV, "{}", 2, NULL, &err), TX_EINVAL);
}

static void secrets_never_shown(void **state)
{
    (void)state;
    load_bad(NOENV, "{\"AI_API_KEY\":\"sk-x\"}", "AI_API_KEY", "environment");
    load_bad(NOENV, "{\"OPENAI_API_KEY\":\"sk-x\"}", "OPENAI_API_KEY", "environment");
    load_bad(NOENV, "{\"TENAX_ADMIN_TOKEN\":\"t\"}", "TENAX_ADMIN_TOKEN", "environment");
    load_bad(NOENV, "{\"TENAX_CLIENT_KEYS\":\"a,b\"}", "TENAX_CLIENT_KEYS", "environment");
    tx_config_t *c =
        load_ok(ENV("AI_API_KEY=sk-TOPSECRET1", "TENAX_ADMIN_TOKEN=adm-TOPSECRET2",
                    "TENAX_CLIENT_KEYS=ck-TOPSECRET3, ck-TOPSECRET4", "EP_KEY=ep-TOPSECRET5"),
                "{\"AI_BASE_URLS\":[{\"url\":\"https://x.example/v1\","
                "\"api_key_env\":\"EP_KEY\"}]}");
    assert_string_equal(c->api_key, "sk-TOPSECRET1");
    assert_string_equal(c->admin_token, "adm-TOPSECRET2");
    assert_int_equal(c->client_keys.n, 2);
    assert_string_equal(c->client_keys.v[1], "ck-TOPSECRET4");
    assert_string_equal(c->endpoints.v[0].api_key, "ep-TOPSECRET5");
    json_t *j = tx__config_to_json(c);
    char *text = json_dumps(j, 0);
    assert_non_null(text);
    assert_null(strstr(text, "TOPSECRET"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "AI_API_KEY"), "value")), "set");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "AI_API_KEY"), "source")), "env");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "TENAX_CLIENT_KEYS"), "value")),
        "set");
    assert_int_equal(json_object_size(j), TX_CFG__LAST);
    free(text);
    json_decref(j);
    tx_config_t *d = load_ok(NOENV, NULL);
    j = tx__config_to_json(d);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "TENAX_ADMIN_TOKEN"), "value")),
        "unset");
    json_decref(j);
    tx__config_unref(d);
    /* an error about a secret never echoes it */
    tx_error_t err = {0};
    assert_int_not_equal(tx__config_load_text(ENV("AI_API_KEY=\xff-TOPSECRET"), NULL, 0, &d, &err),
                         TX_EOK);
    assert_null(strstr(err.msg, "TOPSECRET"));
    tx__config_unref(c);
}

typedef struct {
    int n;
    char seen[8][160];
} diffs_t;

static void on_diff(const char *key, const char *value, const char *source, void *ud)
{
    diffs_t *d = ud;
    if (d->n < 8) snprintf(d->seen[d->n], sizeof d->seen[0], "%s=%s source=%s", key, value, source);
    d->n++;
}

static void diff_lists_changed_keys(void **state)
{
    (void)state;
    tx_config_t *a = load_ok(ENV("AI_API_KEY=sk-old"), "{\"AI_MODEL\":\"m1\"}");
    tx_config_t *b =
        load_ok(ENV("AI_API_KEY=sk-new"), "{\"AI_MODEL\":\"m2\",\"AI_FALLBACK_MODELS\":[\"f\"]}");
    diffs_t d = {0};
    assert_int_equal(tx__config_diff(a, a, on_diff, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(tx__config_diff(a, b, on_diff, &d), 4);
    assert_int_equal(d.n, 4);
    assert_string_equal(d.seen[0], "AI_BASE_URLS=[{\"url\":\"https://api.openai.com/v1\",\"name\":"
                                   "\"api.openai.com\",\"api_key_env\":null,\"api_key\":\"set\"}]"
                                   " source=default");
    assert_string_equal(d.seen[1], "AI_MODEL=\"m2\" source=kv");
    assert_string_equal(d.seen[2], "AI_FALLBACK_MODELS=[\"f\"] source=kv");
    assert_string_equal(d.seen[3], "AI_API_KEY=\"set\" source=env");
    for (int i = 0; i < d.n; i++)
        assert_null(strstr(d.seen[i], "sk-"));
    assert_int_equal(tx__config_diff(NULL, b, on_diff, &d), -1);
    assert_int_equal(tx__config_diff(a, b, NULL, &d), -1);
    tx__config_unref(a);
    tx__config_unref(b);
}

/* A PostgreSQL password in TENAX_STORE is never shown (config check, the reload diff log), but a
 * change of the password alone is still a change. */
static void store_password_never_shown(void **state)
{
    (void)state;
    tx_config_t *a = load_ok(ENV("TENAX_STORE=postgres://app:hunter22@db.example:5432/tx"), NULL);
    tx_config_t *b =
        load_ok(ENV("TENAX_STORE=postgres://app:other99@db.example:5432/tx?sslmode=require"), NULL);
    json_t *v = tx__config_value_json(a, TX_CFG_TENAX_STORE);
    assert_string_equal(json_string_value(v), "postgres://app:***@db.example:5432/tx");
    json_decref(v);
    json_t *all = tx__config_to_json(b);
    char *text = json_dumps(all, JSON_COMPACT);
    assert_non_null(strstr(text, "postgres://app:***@db.example:5432/tx\""));
    assert_null(strstr(text, "other99"));
    free(text);
    json_decref(all);
    diffs_t d = {0};
    assert_int_equal(tx__config_diff(a, b, on_diff, &d), 1);
    assert_string_equal(d.seen[0],
                        "TENAX_STORE=\"postgres://app:***@db.example:5432/tx\" source=env");
    tx__config_unref(a);
    tx__config_unref(b);
    a = load_ok(ENV("TENAX_STORE=sqlite:/var/lib/tenax/a:b@c.db"), NULL); /* not a URL: as it is */
    v = tx__config_value_json(a, TX_CFG_TENAX_STORE);
    assert_string_equal(json_string_value(v), "sqlite:/var/lib/tenax/a:b@c.db");
    json_decref(v);
    tx__config_unref(a);
}

static void refcount(void **state)
{
    (void)state;
    tx_config_t *c = load_ok(NOENV, NULL);
    assert_ptr_equal(tx__config_ref(c), c);
    assert_int_equal(atomic_load(&c->refs), 2);
    tx__config_unref(c);
    assert_int_equal(atomic_load(&c->refs), 1);
    assert_string_equal(c->ai_model, "gpt-4o-mini"); /* still alive */
    tx__config_unref(c);                             /* freed: ASan reports a leak otherwise */
    tx__config_unref(NULL);
    assert_null(tx__config_ref(NULL));
    assert_null(tx__config_to_json(NULL));
    assert_null(tx__config_value_json(NULL, TX_CFG_AI_MODEL));
    assert_string_equal(tx__config_key_name(TX_CFG_AI_MODEL), "AI_MODEL");
    assert_null(tx__config_key_name(TX_CFG__LAST));
    assert_string_equal(tx__config_source_name(TX_CONFIG_SRC_KV), "kv");
    assert_true(tx__config_key_is_secret(TX_CFG_AI_API_KEY));
    assert_false(tx__config_key_is_secret(TX_CFG_AI_MODEL));
}

/* AI_PROVIDERS: presets fill base URL, auth and key variable; keys, headers, query, models and
 * the flat endpoint list are resolved once; model names resolve in provider order. */
static void providers_resolved(void **state)
{
    (void)state;
    const char *text =
        "{\"AI_PROVIDERS\":["
        "{\"name\":\"oai\",\"preset\":\"openai\",\"models\":[\"gpt-4o\",\"gpt-4o-mini\"]},"
        "{\"name\":\"az\",\"preset\":\"azure\",\"base_urls\":[\"https://r.openai.azure.com/openai/"
        "v1\"],"
        " \"models\":{\"gpt-4o\":\"my-deploy\"},\"query\":{\"api-version\":\"2025 04\"}},"
        "{\"name\":\"or\",\"preset\":\"openrouter\",\"headers\":{\"HTTP-Referer\":\"https://"
        "x.example\"},"
        " \"models\":{\"claude\":\"anthropic/claude-sonnet-4.5\",\"*\":\"*\"}},"
        "{\"name\":\"local\",\"preset\":\"ollama\",\"models\":[\"llama3\"]}]}";
    tx_config_t *c = load_ok(
        ENV("OPENAI_API_KEY=sk-o", "AZURE_OPENAI_API_KEY=az-k", "OPENROUTER_API_KEY=sk-or"), text);
    assert_int_equal(c->providers.n, 4);
    assert_int_equal(c->n_route_eps, 4);
    assert_string_equal(c->route_eps[0].url, "https://api.openai.com/v1");
    assert_string_equal(c->route_eps[0].auth_name, "Authorization");
    assert_string_equal(c->route_eps[0].auth_value, "Bearer sk-o");
    assert_string_equal(c->route_eps[1].auth_name, "api-key");
    assert_string_equal(c->route_eps[1].auth_value, "az-k");
    assert_string_equal(c->providers.v[1].query_string, "api-version=2025%2004");
    assert_string_equal(c->route_eps[2].url, "https://openrouter.ai/api/v1");
    assert_string_equal(c->providers.v[2].headers[0].name, "HTTP-Referer");
    assert_null(c->route_eps[3].auth_value); /* ollama: no key */
    assert_int_equal(c->route_eps[3].provider, 3);
    tx_config_route_t r[4];
    assert_int_equal(tx__config_resolve(c, "gpt-4o", r, 4), 3); /* oai, az, or ("*") */
    assert_int_equal(r[0].provider, 0);
    assert_string_equal(r[0].model, "gpt-4o");
    assert_int_equal(r[1].provider, 1);
    assert_string_equal(r[1].model, "my-deploy");
    assert_int_equal(r[2].provider, 2);
    assert_int_equal(tx__config_resolve(c, "claude", r, 4), 1);
    assert_string_equal(r[0].model, "anthropic/claude-sonnet-4.5");
    assert_int_equal(tx__config_resolve(c, "llama3", r, 1), 2); /* local and or's "*" */
    assert_int_equal(r[0].provider, 2);
    json_t *names = tx__config_model_names(c);
    assert_int_equal(json_array_size(names), 4); /* gpt-4o once, gpt-4o-mini, claude, llama3 */
    json_decref(names);
    json_t *v = tx__config_value_json(c, TX_CFG_AI_PROVIDERS);
    char *shown = json_dumps(v, JSON_COMPACT);
    assert_non_null(strstr(shown, "\"api_key_env\":\"OPENROUTER_API_KEY\""));
    assert_non_null(strstr(shown, "\"api_key\":\"set\""));
    assert_null(strstr(shown, "sk-or"));
    free(shown);
    json_decref(v);
    tx__config_unref(c);

    /* without AI_PROVIDERS: AI_BASE_URLS + AI_API_KEY are the provider `default` serving all */
    c = load_ok(ENV("AI_API_KEY=sk-g", "AI_BASE_URLS=http://a.example/v1,http://b.example/v1"),
                NULL);
    assert_int_equal(c->providers.n, 1);
    assert_string_equal(c->providers.v[0].name, "default");
    assert_int_equal(c->n_route_eps, 2);
    assert_string_equal(c->route_eps[1].auth_value, "Bearer sk-g");
    assert_int_equal(tx__config_resolve(c, "anything", r, 4), 1);
    assert_string_equal(r[0].model, "anything");
    tx__config_unref(c);

    /* the environment's form, and a base_urls string */
    c = load_ok(
        ENV("AI_PROVIDERS=[{\"name\":\"g\",\"preset\":\"generic\","
            "\"base_urls\":\"http://x.example/v1, http://y.example/v1\",\"models\":[\"*\"]}]"),
        NULL);
    assert_int_equal(c->n_route_eps, 2);
    assert_int_equal(c->source[TX_CFG_AI_PROVIDERS], TX_CONFIG_SRC_ENV);
    tx__config_unref(c);
}

/* A provider whose every base URL names its own key needs no provider-wide one (the preset's
 * variable may be unset); each endpoint goes up with its own key. */
static void provider_keys_per_url(void **state)
{
    (void)state;
    tx_config_t *c = load_ok(
        ENV("AZ_EU=eu-key", "AZ_US=us-key"),
        "{\"AI_PROVIDERS\":[{\"name\":\"az\",\"preset\":\"azure\",\"models\":[\"*\"],"
        "\"base_urls\":[{\"url\":\"https://eu.openai.azure.com/openai/"
        "v1\",\"api_key_env\":\"AZ_EU\"},"
        "{\"url\":\"https://us.openai.azure.com/openai/v1\",\"api_key_env\":\"AZ_US\"}]}]}");
    assert_string_equal(c->providers.v[0].base_urls.v[0].api_key, "eu-key");
    assert_string_equal(c->providers.v[0].base_urls.v[1].api_key, "us-key");
    tx__config_unref(c);
}

/* A header or query value whose name says it is a credential is never shown nor logged, and a
 * change of it still counts as a change of AI_PROVIDERS. */
static void provider_secret_pairs_masked(void **state)
{
    (void)state;
    const char *fmt = "{\"AI_PROVIDERS\":[{\"name\":\"gw\",\"base_urls\":[\"http://a/v1\"],"
                      "\"models\":[\"*\"],\"headers\":{\"x-api-key\":\"%s\","
                      "\"HTTP-Referer\":\"https://e.example\"},\"query\":{\"key\":\"%s\"}}]}";
    char ta[512], tb[512];
    snprintf(ta, sizeof ta, fmt, "TOPSECRET6", "TOPSECRET7");
    snprintf(tb, sizeof tb, fmt, "TOPSECRET8", "TOPSECRET7");
    tx_config_t *a = load_ok(NOENV, ta), *b = load_ok(NOENV, tb);
    json_t *v = tx__config_value_json(a, TX_CFG_AI_PROVIDERS);
    char *text = json_dumps(v, JSON_ENCODE_ANY);
    assert_non_null(text);
    assert_null(strstr(text, "TOPSECRET"));
    assert_non_null(strstr(text, "https://e.example")); /* other headers are shown */
    free(text);
    json_decref(v);
    diffs_t d = {0};
    assert_int_equal(tx__config_diff(a, b, on_diff, &d), 1);
    assert_non_null(strstr(d.seen[0], "AI_PROVIDERS="));
    assert_null(strstr(d.seen[0], "TOPSECRET"));
    tx__config_unref(a);
    tx__config_unref(b);
}

/* Every bad provider rejects the whole config with a message naming the provider. */
static void providers_rejected(void **state)
{
    (void)state;
    const tx_config_env_t *env = ENV("K=1");
    load_bad(env, "{\"AI_PROVIDERS\":[{\"name\":\"a\",\"preset\":\"nope\",\"models\":[\"*\"]}]}",
             "provider \"a\"", "unknown preset");
    load_bad(env, "{\"AI_PROVIDERS\":[{\"name\":\"b\",\"preset\":\"openai\",\"models\":[\"*\"]}]}",
             "provider \"b\"", "OPENAI_API_KEY is not set");
    load_bad(ENV("OPENAI_API_KEY="),
             "{\"AI_PROVIDERS\":[{\"name\":\"e\",\"preset\":\"openai\",\"models\":[\"*\"]}]}",
             "provider \"e\"", "OPENAI_API_KEY is not set in the environment (or empty)");
    load_bad(env,
             "{\"AI_PROVIDERS\":[{\"name\":\"c\",\"base_urls\":[\"http://a/\"],\"models\":[\"x\"]},"
             "{\"name\":\"c\",\"base_urls\":[\"http://b/\"],\"models\":[\"y\"]}]}",
             "provider \"c\"", "two providers of one name");
    load_bad(env, "{\"AI_PROVIDERS\":[{\"name\":\"d\",\"preset\":\"azure\",\"models\":[\"*\"]}]}",
             "provider \"d\"", "base_urls");
    load_bad(env, "{\"AI_PROVIDERS\":[{\"name\":\"e\",\"base_urls\":[\"http://a/\"]}]}",
             "provider \"e\"", "models");
    load_bad(
        env,
        "{\"AI_PROVIDERS\":[{\"name\":\"f\",\"base_urls\":[\"ftp://a/\"],\"models\":[\"*\"]}]}",
        "provider \"f\"", "http");
    load_bad(env,
             "{\"AI_PROVIDERS\":[{\"name\":\"g\",\"base_urls\":[\"http://a/\"],\"models\":[\"*\"],"
             "\"api_key\":\"sk\"}]}",
             "provider \"g\"", "environment");
    load_bad(env,
             "{\"AI_PROVIDERS\":[{\"name\":\"h\",\"base_urls\":[\"http://a/\"],\"models\":[\"*\"],"
             "\"auth\":\"basic\"}]}",
             "provider \"h\"", "bearer");
    load_bad(env,
             "{\"AI_PROVIDERS\":[{\"name\":\"i\",\"base_urls\":[\"http://a/\"],\"models\":[\"*\"],"
             "\"headers\":{\"Authorization\":\"x\"}}]}",
             "provider \"i\"", "header");
    load_bad(env,
             "{\"AI_PROVIDERS\":[{\"name\":\"Bad Name\",\"base_urls\":[\"http://a/\"],"
             "\"models\":[\"*\"]}]}",
             "AI_PROVIDERS[0]", "name");
    load_bad(env,
             "{\"AI_PROVIDERS\":[{\"name\":\"j\",\"base_urls\":[\"http://a/\"],"
             "\"models\":[\"*\"],\"api_key_env\":\"UNSET_VAR\"}]}",
             "provider \"j\"", "UNSET_VAR");
    load_bad(env, "{\"AI_PROVIDERS\":{\"name\":\"k\"}}", "AI_PROVIDERS", "array");
    load_bad(ENV("AI_PROVIDERS=openai"), NULL, "AI_PROVIDERS", "JSON array");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(env_overrides_and_file_overrides_env),
        cmocka_unit_test(lists_both_forms),
        cmocka_unit_test(endpoint_objects_and_keys),
        cmocka_unit_test(every_bound_rejected),
        cmocka_unit_test(wrong_types_and_bad_values),
        cmocka_unit_test(invalid_json_and_files),
        cmocka_unit_test(secrets_never_shown),
        cmocka_unit_test(diff_lists_changed_keys),
        cmocka_unit_test(store_password_never_shown),
        cmocka_unit_test(refcount),
        cmocka_unit_test(providers_resolved),
        cmocka_unit_test(providers_rejected),
        cmocka_unit_test(provider_keys_per_url),
        cmocka_unit_test(provider_secret_pairs_masked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
