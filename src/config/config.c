/* Loads the layered configuration (defaults, environment, kv file) into an immutable snapshot,
 * validating every key against the table in config.h. A load either succeeds as a whole or
 * fails with one message that names the key, the value and the bound. */
#include "config/config.h"
#include "core/errfmt.h"
#include "core/url.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum ktype { T_INT, T_STR, T_JITTER, T_LIST, T_ENDPOINTS, T_SECRET, T_SECRET_LIST };

typedef struct {
    const char *name;
    const char *alias;
    enum ktype type;
    size_t off;
    int64_t def_int;
    const char *def_text;
    int64_t lo, hi;
} kdesc_t;

#define DEF_INT(d) _Generic((d), char * : 0, default : (d))
#define DEF_TEXT(d) _Generic((d), char * : (d), default : NULL)
static const kdesc_t keys[TX_CFG__LAST] = {
#define TX_CONFIG_KEY_DESC(id, nm, al, ty, field, def, l, h)                                       \
    [TX_CFG_##id] = {.name = nm,                                                                   \
                     .alias = al,                                                                  \
                     .type = T_##ty,                                                               \
                     .off = offsetof(tx_config_t, field),                                          \
                     .def_int = DEF_INT(def),                                                      \
                     .def_text = DEF_TEXT(def),                                                    \
                     .lo = l,                                                                      \
                     .hi = h},
    TX_CONFIG_KEYS(TX_CONFIG_KEY_DESC)
#undef TX_CONFIG_KEY_DESC
};

static const char *const jitter_names[] = {"none", "full", "equal", "decorrelated"};
static const char *const source_names[] = {"default", "env", "kv"};

#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_ENV_BYTES 65536

/* A value shown in an error message: printable ASCII only, cut short. */
static void show(char *buf, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (o + 4 >= cap && len > o) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

static void show_json(char *buf, size_t cap, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (s == NULL) {
        snprintf(buf, cap, "?");
        return;
    }
    show(buf, cap, s, strlen(s));
    free(s);
}

static int64_t *int_at(tx_config_t *c, const kdesc_t *k)
{
    return (int64_t *)((char *)c + k->off);
}
static char **str_at(tx_config_t *c, const kdesc_t *k)
{
    return (char **)((char *)c + k->off);
}
static tx_config_list_t *list_at(tx_config_t *c, const kdesc_t *k)
{
    return (tx_config_list_t *)((char *)c + k->off);
}

static void list_free(tx_config_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void endpoints_free(tx_config_endpoints_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].url);
        free(e->v[i].name);
        free(e->v[i].api_key_env);
        free(e->v[i].api_key);
    }
    free(e->v);
    e->v = NULL;
    e->n = 0;
}

/* Frees whatever a key holds in cfg. */
static void clear_key(tx_config_t *c, int i)
{
    const kdesc_t *k = &keys[i];
    switch (k->type) {
    case T_STR:
    case T_SECRET:
        free(*str_at(c, k));
        *str_at(c, k) = NULL;
        break;
    case T_LIST:
    case T_SECRET_LIST:
        list_free(list_at(c, k));
        break;
    case T_ENDPOINTS:
        endpoints_free(&c->endpoints);
        break;
    default:
        break;
    }
}

/* Strict decimal integer: optional '-', digits only, no spaces, fits int64. */
static int parse_int(const char *s, size_t len, int64_t *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    size_t i = buf[0] == '-' ? 1 : 0;
    if (buf[i] == '\0') return -1;
    for (; buf[i] != '\0'; i++)
        if (!isdigit((unsigned char)buf[i])) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0') return -1;
    *out = v;
    return 0;
}

/* 1 when s is valid UTF-8 without NUL (jansson is the judge). */
static int utf8_ok(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    int ok = j != NULL && memchr(s, '\0', len) == NULL;
    json_decref(j);
    return ok;
}

/* "HOST:PORT" with a numeric port 1..65535 and a non-empty host ("[::1]:80" allowed). */
static int listen_ok(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s) return 0;
    int64_t port;
    if (parse_int(colon + 1, strlen(colon + 1), &port) != 0 || port < 1 || port > 65535) return 0;
    for (const char *p = s; p < colon; p++)
        if (isspace((unsigned char)*p)) return 0;
    return 1;
}

static int store_ok(const char *s)
{
    return (strncmp(s, "sqlite:", 7) == 0 && s[7] != '\0') || strncmp(s, "postgres://", 11) == 0 ||
           strncmp(s, "postgresql://", 13) == 0;
}

/* An http(s) URL (core/url.h), without user:password (keys go in api_key_env). On success
 * *host is a malloc'd host name (an IPv6 literal in brackets). Returns NULL or the reason. */
static const char *url_check(const char *url, char **host)
{
    tx_url_t u;
    *host = NULL;
    const char *why = tx_url_parse(url, &u);
    if (why != NULL) return why;
    size_t n = strlen(u.host) + 3;
    if ((*host = malloc(n)) == NULL) return "out of memory";
    snprintf(*host, n, u.ipv6 ? "[%s]" : "%s", u.host);
    return NULL;
}

static int env_name_ok(const char *s)
{
    if (s[0] == '\0' || strlen(s) > 128 || isdigit((unsigned char)s[0])) return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_') return 0;
    return 1;
}

/* Checks one string value of key k (already UTF-8 clean). Returns NULL or the reason. */
static const char *str_check(const kdesc_t *k, const char *s, size_t len, char *why, size_t cap)
{
    if ((int64_t)len < k->lo || (int64_t)len > k->hi) {
        snprintf(why, cap, "length %zu is out of bounds %lld..%lld", len, (long long)k->lo,
                 (long long)k->hi);
        return why;
    }
    if (k == &keys[TX_CFG_TENAX_LISTEN] && !listen_ok(s))
        return "must be HOST:PORT (port 1..65535)";
    if (k == &keys[TX_CFG_TENAX_STORE] && !store_ok(s))
        return "must be sqlite:PATH or postgres://...";
    if (k == &keys[TX_CFG_AI_PROXY] && len > 0) { /* "host:port" alone means http:// */
        char *host;
        char buf[2100];
        if (strstr(s, "://") == NULL) snprintf(buf, sizeof buf, "http://%s", s);
        const char *bad = url_check(strstr(s, "://") == NULL ? buf : s, &host);
        free(host);
        if (bad == NULL && strncasecmp(s, "https://", 8) == 0)
            bad = "the proxy must be an http:// URL (https is tunnelled through it)";
        if (bad != NULL) return bad;
    }
    if (k == &keys[TX_CFG_NOTIFY_WEBHOOK_URL] && len > 0) {
        char *host;
        const char *bad = url_check(s, &host);
        free(host);
        if (bad != NULL) return bad;
    }
    return NULL;
}

/* One new value for a key, parsed from either layer; assigned into cfg only when valid. */
typedef struct {
    tx_config_t *cfg;
    const kdesc_t *k;
    const char *layer; /* "env" or "kv" or "default", for messages */
    tx_error_t *err;
} ctx_t;

static tx_err_t set_string(ctx_t *x, const char *s, size_t len, const char *shown)
{
    char why[96];
    const char *bad = NULL;
    if (!utf8_ok(s, len))
        bad = "not valid UTF-8";
    else
        bad = str_check(x->k, s, len, why, sizeof why);
    if (bad != NULL)
        return tx_error_setf(x->err, TX_ERANGE, "%s=%s (%s): %s", x->k->name, shown, x->layer, bad);
    char *copy = strndup(s, len);
    if (copy == NULL) return tx_error_setf(x->err, TX_ENOMEM, "out of memory");
    char **slot = str_at(x->cfg, x->k);
    free(*slot);
    *slot = copy;
    return TX_EOK;
}

static tx_err_t set_int(ctx_t *x, int64_t v)
{
    if (v < x->k->lo || v > x->k->hi)
        return tx_error_setf(x->err, TX_ERANGE, "%s=%lld (%s): out of bounds %lld..%lld",
                             x->k->name, (long long)v, x->layer, (long long)x->k->lo,
                             (long long)x->k->hi);
    *int_at(x->cfg, x->k) = v;
    return TX_EOK;
}

static tx_err_t set_jitter(ctx_t *x, const char *s, const char *shown)
{
    for (size_t i = 0; i < sizeof jitter_names / sizeof jitter_names[0]; i++)
        if (strcmp(s, jitter_names[i]) == 0) {
            x->cfg->ai_retry_jitter = (tx_config_jitter_t)i;
            return TX_EOK;
        }
    return tx_error_setf(x->err, TX_ERANGE,
                         "%s=%s (%s): must be one of none, full, equal, decorrelated", x->k->name,
                         shown, x->layer);
}

/* Builds one endpoint from a JSON string or {"url","name","api_key_env"}. */
static tx_err_t endpoint_from(ctx_t *x, size_t idx, const json_t *item, tx_config_endpoint_t *ep)
{
    char shown[80];
    show_json(shown, sizeof shown, item);
    const char *url = NULL, *name = NULL, *key_env = NULL;
    if (json_is_string(item)) {
        url = json_string_value(item);
    } else if (json_is_object(item)) {
        const char *f;
        json_t *v;
        json_object_foreach((json_t *)item, f, v)
        {
            const char **slot = strcmp(f, "url") == 0           ? &url
                                : strcmp(f, "name") == 0        ? &name
                                : strcmp(f, "api_key_env") == 0 ? &key_env
                                                                : NULL;
            if (slot == NULL) {
                char fs[40];
                show(fs, sizeof fs, f, strlen(f));
                return tx_error_setf(
                    x->err, TX_EINVAL,
                    "%s[%zu] (%s): unknown field \"%s\" (allowed: url, name, api_key_env%s)",
                    x->k->name, idx, x->layer, fs,
                    strstr(f, "key") ? "; secrets come only from the environment" : "");
            }
            if (!json_is_string(v))
                return tx_error_setf(x->err, TX_EINVAL, "%s[%zu].%s (%s): must be a string",
                                     x->k->name, idx, f, x->layer);
            *slot = json_string_value(v);
        }
        if (url == NULL)
            return tx_error_setf(x->err, TX_EINVAL, "%s[%zu]=%s (%s): missing \"url\"", x->k->name,
                                 idx, shown, x->layer);
    } else {
        return tx_error_setf(x->err, TX_EINVAL,
                             "%s[%zu]=%s (%s): must be a URL string or an object", x->k->name, idx,
                             shown, x->layer);
    }
    char *host = NULL;
    const char *bad = strlen(url) > 2048 ? "URL longer than 2048 bytes" : url_check(url, &host);
    if (bad != NULL)
        return tx_error_setf(x->err, strcmp(bad, "out of memory") == 0 ? TX_ENOMEM : TX_EINVAL,
                             "%s[%zu]=%s (%s): %s", x->k->name, idx, shown, x->layer, bad);
    if (name != NULL && (name[0] == '\0' || strlen(name) > 128)) {
        free(host);
        return tx_error_setf(x->err, TX_EINVAL, "%s[%zu] (%s): name must be 1..128 bytes",
                             x->k->name, idx, x->layer);
    }
    if (key_env != NULL && !env_name_ok(key_env)) {
        free(host);
        return tx_error_setf(x->err, TX_EINVAL, "%s[%zu] (%s): api_key_env must be a variable name",
                             x->k->name, idx, x->layer);
    }
    ep->url = strdup(url);
    ep->name = strdup(name != NULL ? name : host);
    ep->api_key_env = key_env != NULL ? strdup(key_env) : NULL;
    free(host);
    if (ep->url == NULL || ep->name == NULL || (key_env != NULL && ep->api_key_env == NULL))
        return tx_error_setf(x->err, TX_ENOMEM, "out of memory");
    return TX_EOK;
}

/* A list (strings or endpoints) from a JSON array. */
static tx_err_t set_list_json(ctx_t *x, const json_t *arr)
{
    char shown[80] = "***";
    if (x->k->type != T_SECRET_LIST) show_json(shown, sizeof shown, arr);
    if (!json_is_array(arr))
        return tx_error_setf(x->err, TX_EINVAL, "%s=%s (%s): must be a JSON array", x->k->name,
                             shown, x->layer);
    size_t n = json_array_size(arr);
    if ((int64_t)n < x->k->lo || (int64_t)n > x->k->hi)
        return tx_error_setf(x->err, TX_ERANGE, "%s=%s (%s): %zu entries, out of bounds %lld..%lld",
                             x->k->name, shown, x->layer, n, (long long)x->k->lo,
                             (long long)x->k->hi);
    tx_err_t rc = TX_EOK;
    if (x->k->type == T_ENDPOINTS) {
        tx_config_endpoints_t e = {calloc(n ? n : 1, sizeof(tx_config_endpoint_t)), 0};
        if (e.v == NULL) return tx_error_setf(x->err, TX_ENOMEM, "out of memory");
        for (size_t i = 0; i < n && rc == TX_EOK; i++, e.n++)
            rc = endpoint_from(x, i, json_array_get(arr, i), &e.v[i]);
        if (rc != TX_EOK) {
            endpoints_free(&e);
            return rc;
        }
        endpoints_free(&x->cfg->endpoints);
        x->cfg->endpoints = e;
        return TX_EOK;
    }
    tx_config_list_t l = {calloc(n ? n : 1, sizeof(char *)), 0};
    if (l.v == NULL) return tx_error_setf(x->err, TX_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == TX_EOK; i++) {
        const json_t *it = json_array_get(arr, i);
        size_t len = json_string_length(it);
        if (!json_is_string(it) || len == 0 || len > 256 ||
            memchr(json_string_value(it), '\0', len) != NULL)
            rc = tx_error_setf(x->err, TX_EINVAL,
                               "%s=%s (%s): entry %zu must be a string of 1..256 bytes", x->k->name,
                               shown, x->layer, i);
        else if ((l.v[l.n++] = strdup(json_string_value(it))) == NULL)
            rc = tx_error_setf(x->err, TX_ENOMEM, "out of memory");
    }
    if (rc != TX_EOK) {
        list_free(&l);
        return rc;
    }
    list_free(list_at(x->cfg, x->k));
    *list_at(x->cfg, x->k) = l;
    return TX_EOK;
}

/* A list from environment text: a JSON array, or comma-separated (blank entries dropped). */
static tx_err_t set_list_text(ctx_t *x, const char *s, const char *shown)
{
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    json_t *arr;
    if (*p == '[' && x->k->type != T_SECRET_LIST) {
        json_error_t je;
        arr = json_loads(p, JSON_REJECT_DUPLICATES, &je);
        if (arr == NULL)
            return tx_error_setf(x->err, TX_EPARSE, "%s=%s (%s): not a valid JSON array: %s",
                                 x->k->name, shown, x->layer, je.text);
    } else {
        arr = json_array();
        const char *start = s;
        for (;;) {
            const char *end = strchr(start, ',');
            size_t len = end ? (size_t)(end - start) : strlen(start);
            while (len > 0 && isspace((unsigned char)*start))
                start++, len--;
            while (len > 0 && isspace((unsigned char)start[len - 1]))
                len--;
            if (len > 0 && arr != NULL) {
                json_t *item = json_stringn(start, len);
                if (item == NULL) {
                    json_decref(arr);
                    return tx_error_setf(x->err, TX_EINVAL, "%s (%s): not valid UTF-8", x->k->name,
                                         x->layer);
                }
                json_array_append_new(arr, item);
            }
            if (end == NULL) break;
            start = end + 1;
        }
        if (arr == NULL) return tx_error_setf(x->err, TX_ENOMEM, "out of memory");
    }
    tx_err_t rc = set_list_json(x, arr);
    json_decref(arr);
    return rc;
}

/* A value from text (environment, or a default). */
static tx_err_t set_from_text(ctx_t *x, const char *s)
{
    size_t len = strlen(s);
    char shown[80];
    if (x->k->type == T_SECRET || x->k->type == T_SECRET_LIST)
        snprintf(shown, sizeof shown, "***");
    else
        show(shown, sizeof shown, s, len);
    if (len > MAX_ENV_BYTES)
        return tx_error_setf(x->err, TX_ERANGE, "%s (%s): value longer than %d bytes", x->k->name,
                             x->layer, MAX_ENV_BYTES);
    switch (x->k->type) {
    case T_INT: {
        int64_t v;
        if (parse_int(s, len, &v) != 0)
            return tx_error_setf(x->err, TX_EINVAL, "%s=%s (%s): not an integer", x->k->name, shown,
                                 x->layer);
        return set_int(x, v);
    }
    case T_STR:
        return set_string(x, s, len, shown);
    case T_JITTER:
        return set_jitter(x, s, shown);
    case T_SECRET: {
        if (!utf8_ok(s, len))
            return tx_error_setf(x->err, TX_EINVAL, "%s (%s): not valid UTF-8", x->k->name,
                                 x->layer);
        char *copy = len ? strdup(s) : NULL;
        if (len && copy == NULL) return tx_error_setf(x->err, TX_ENOMEM, "out of memory");
        free(*str_at(x->cfg, x->k));
        *str_at(x->cfg, x->k) = copy;
        return TX_EOK;
    }
    default:
        return set_list_text(x, s, shown);
    }
}

/* A value from the kv file. */
static tx_err_t set_from_json(ctx_t *x, const json_t *v)
{
    char shown[80];
    show_json(shown, sizeof shown, v);
    switch (x->k->type) {
    case T_INT:
        if (json_is_integer(v)) return set_int(x, json_integer_value(v));
        if (json_is_string(v)) {
            int64_t n;
            if (parse_int(json_string_value(v), json_string_length(v), &n) != 0)
                return tx_error_setf(x->err, TX_EINVAL, "%s=%s (%s): not an integer", x->k->name,
                                     shown, x->layer);
            return set_int(x, n);
        }
        return tx_error_setf(x->err, TX_EINVAL, "%s=%s (%s): must be an integer", x->k->name, shown,
                             x->layer);
    case T_STR:
    case T_JITTER:
        if (!json_is_string(v))
            return tx_error_setf(x->err, TX_EINVAL, "%s=%s (%s): must be a string", x->k->name,
                                 shown, x->layer);
        if (x->k->type == T_JITTER) return set_jitter(x, json_string_value(v), shown);
        return set_string(x, json_string_value(v), json_string_length(v), shown);
    default:
        return set_list_json(x, v);
    }
}

static const char *env_get(const tx_config_env_t *env, const char *name)
{
    if (name == NULL) return NULL;
    const char *v = env != NULL ? env->lookup(env->ud, name) : getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL; /* empty counts as unset */
}

const char *tx_config_envp_lookup(void *envp, const char *name)
{
    if (envp == NULL || name == NULL) return NULL;
    size_t n = strlen(name);
    for (char **e = envp; *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

static int find_key(const char *name, int *is_alias)
{
    for (int i = 0; i < TX_CFG__LAST; i++) {
        if (strcmp(keys[i].name, name) == 0) {
            *is_alias = 0;
            return i;
        }
        if (keys[i].alias != NULL && strcmp(keys[i].alias, name) == 0) {
            *is_alias = 1;
            return i;
        }
    }
    return -1;
}

static tx_err_t apply_file(tx_config_t *c, const char *text, size_t len, tx_error_t *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (root == NULL)
        return tx_error_setf(err, TX_EPARSE, "not valid JSON at line %d column %d: %s", je.line,
                             je.column, je.text);
    tx_err_t rc = TX_EOK;
    if (!json_is_object(root)) {
        rc = tx_error_setf(err, TX_EPARSE, "the config must be a JSON object");
        goto out;
    }
    const char *name;
    json_t *v;
    json_object_foreach(root, name, v)
    {
        int alias, i = find_key(name, &alias);
        char shown[64];
        show(shown, sizeof shown, name, strlen(name));
        if (i < 0) {
            rc = tx_error_setf(err, TX_EINVAL, "unknown key \"%s\"", shown);
            goto out;
        }
        if (keys[i].type == T_SECRET || keys[i].type == T_SECRET_LIST) {
            rc = tx_error_setf(
                err, TX_EINVAL,
                "%s: secrets are not allowed in the config file (set it in the environment)",
                shown);
            goto out;
        }
        if (alias && json_object_get(root, keys[i].name) != NULL) {
            rc = tx_error_setf(err, TX_EINVAL, "both %s and its alias %s are set", keys[i].name,
                               shown);
            goto out;
        }
        ctx_t x = {c, &keys[i], "kv", err};
        if ((rc = set_from_json(&x, v)) != TX_EOK) goto out;
        c->source[i] = TX_CONFIG_SRC_KV;
    }
out:
    json_decref(root);
    return rc;
}

static tx_err_t build(const tx_config_env_t *env, const char *text, size_t len, const char *path,
                      tx_config_t **out, tx_error_t *err)
{
    tx_config_t *c = calloc(1, sizeof *c);
    if (c == NULL) return tx_error_setf(err, TX_ENOMEM, "out of memory");
    atomic_init(&c->refs, 1);
    tx_err_t rc = TX_EOK;
    if (path != NULL && (c->path = strdup(path)) == NULL) {
        rc = tx_error_setf(err, TX_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < TX_CFG__LAST; i++) {
        ctx_t x = {c, &keys[i], "default", err};
        c->source[i] = TX_CONFIG_SRC_DEFAULT;
        rc = keys[i].type == T_INT ? set_int(&x, keys[i].def_int)
                                   : set_from_text(&x, keys[i].def_text);
        if (rc != TX_EOK) goto fail;
    }
    for (int i = 0; i < TX_CFG__LAST; i++) {
        const char *v = env_get(env, keys[i].name);
        if (v == NULL) v = env_get(env, keys[i].alias);
        if (v == NULL) continue;
        ctx_t x = {c, &keys[i], "env", err};
        if ((rc = set_from_text(&x, v)) != TX_EOK) goto fail;
        c->source[i] = TX_CONFIG_SRC_ENV;
    }
    if (text != NULL && (rc = apply_file(c, text, len, err)) != TX_EOK) goto fail;
    if (c->ai_retry_delay_ms > c->ai_retry_max_delay_ms) {
        rc = tx_error_setf(err, TX_ERANGE,
                           "AI_RETRY_DELAY_MS=%lld exceeds AI_RETRY_MAX_DELAY_MS=%lld",
                           (long long)c->ai_retry_delay_ms, (long long)c->ai_retry_max_delay_ms);
        goto fail;
    }
    if (c->job_park_base_ms > c->job_park_max_ms) {
        rc = tx_error_setf(err, TX_ERANGE, "JOB_PARK_BASE_MS=%lld exceeds JOB_PARK_MAX_MS=%lld",
                           (long long)c->job_park_base_ms, (long long)c->job_park_max_ms);
        goto fail;
    }
    for (size_t i = 0; i < c->endpoints.n; i++) {
        tx_config_endpoint_t *ep = &c->endpoints.v[i];
        /* An endpoint naming its own variable never falls back to the global key: that key
         * belongs to another provider. */
        const char *key = ep->api_key_env != NULL ? env_get(env, ep->api_key_env) : c->api_key;
        if (key != NULL && (ep->api_key = strdup(key)) == NULL) {
            rc = tx_error_setf(err, TX_ENOMEM, "out of memory");
            goto fail;
        }
    }
    *out = c;
    return TX_EOK;
fail:
    tx_config_unref(c);
    return rc;
}

tx_err_t tx_config_load_text(const tx_config_env_t *env, const char *text, size_t len,
                             tx_config_t **out, tx_error_t *err)
{
    if (out == NULL) return tx_error_setf(err, TX_EINVAL, "no output");
    if (text != NULL && len == 0) text = NULL;
    return build(env, text, len, NULL, out, err);
}

tx_err_t tx_config_load(const tx_config_env_t *env, const char *path, tx_config_t **out,
                        tx_error_t *err)
{
    if (out == NULL) return tx_error_setf(err, TX_EINVAL, "no output");
    if (path == NULL) path = env_get(env, "TENAX_CONFIG");
    if (path == NULL) return build(env, NULL, 0, NULL, out, err);
    char shown[128];
    show(shown, sizeof shown, path, strlen(path));
    FILE *f = fopen(path, "rb");
    if (f == NULL) return tx_error_setf(err, TX_EIO, "cannot open %s: %s", shown, strerror(errno));
    char *buf = malloc(MAX_FILE_BYTES + 1);
    size_t n = buf != NULL ? fread(buf, 1, MAX_FILE_BYTES + 1, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    tx_err_t rc;
    if (buf == NULL)
        rc = tx_error_setf(err, TX_ENOMEM, "out of memory");
    else if (rerr)
        rc = tx_error_setf(err, TX_EIO, "cannot read %s", shown);
    else if (n > MAX_FILE_BYTES)
        rc = tx_error_setf(err, TX_ERANGE, "%s is larger than %d bytes", shown, MAX_FILE_BYTES);
    else if (n == 0)
        rc = tx_error_setf(err, TX_EPARSE, "%s is empty (an empty config is {})", shown);
    else
        rc = build(env, buf, n, path, out, err);
    free(buf);
    return rc;
}

tx_config_t *tx_config_ref(tx_config_t *cfg)
{
    if (cfg != NULL) atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}

void tx_config_unref(tx_config_t *cfg)
{
    if (cfg == NULL || atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) != 1) return;
    for (int i = 0; i < TX_CFG__LAST; i++)
        clear_key(cfg, i);
    free(cfg->path);
    free(cfg);
}

const char *tx_config_key_name(tx_config_key_t key)
{
    return (int)key >= 0 && key < TX_CFG__LAST ? keys[key].name : NULL;
}

const char *tx_config_source_name(tx_config_source_t src)
{
    return (int)src >= 0 && src <= TX_CONFIG_SRC_KV ? source_names[src] : "unknown";
}

int tx_config_key_is_secret(tx_config_key_t key)
{
    return (int)key >= 0 && key < TX_CFG__LAST &&
           (keys[key].type == T_SECRET || keys[key].type == T_SECRET_LIST);
}

static json_t *list_json(const tx_config_list_t *l)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < l->n; i++)
        if (json_array_append_new(a, json_string(l->v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *tx_config_value_json(const tx_config_t *cfg, tx_config_key_t key)
{
    if (cfg == NULL || (int)key < 0 || key >= TX_CFG__LAST) return NULL;
    tx_config_t *c = (tx_config_t *)cfg; /* read only */
    const kdesc_t *k = &keys[key];
    switch (k->type) {
    case T_INT:
        return json_integer(*int_at(c, k));
    case T_STR:
        return json_string(*str_at(c, k));
    case T_JITTER:
        return json_string(jitter_names[c->ai_retry_jitter]);
    case T_LIST:
        return list_json(list_at(c, k));
    case T_SECRET:
        return json_string(*str_at(c, k) != NULL ? "set" : "unset");
    case T_SECRET_LIST:
        return json_string(list_at(c, k)->n > 0 ? "set" : "unset");
    case T_ENDPOINTS: {
        json_t *a = json_array();
        for (size_t i = 0; a != NULL && i < c->endpoints.n; i++) {
            const tx_config_endpoint_t *ep = &c->endpoints.v[i];
            json_t *o =
                json_pack("{s:s, s:s, s:s?, s:s}", "url", ep->url, "name", ep->name, "api_key_env",
                          ep->api_key_env, "api_key", ep->api_key != NULL ? "set" : "unset");
            if (o == NULL || json_array_append_new(a, o) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    }
    return NULL;
}

json_t *tx_config_to_json(const tx_config_t *cfg)
{
    if (cfg == NULL) return NULL;
    json_t *o = json_object();
    for (int i = 0; o != NULL && i < TX_CFG__LAST; i++) {
        json_t *v = tx_config_value_json(cfg, (tx_config_key_t)i);
        json_t *e =
            v != NULL ? json_pack("{s:o, s:s}", "value", v, "source", source_names[cfg->source[i]])
                      : NULL;
        if (e == NULL || json_object_set_new(o, keys[i].name, e) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Secrets compare by their real values (redacted JSON would hide a rotated key). */
static int secret_changed(const tx_config_t *a, const tx_config_t *b, int i)
{
    tx_config_t *ca = (tx_config_t *)a, *cb = (tx_config_t *)b;
    const kdesc_t *k = &keys[i];
    if (k->type == T_SECRET) return !same_str(*str_at(ca, k), *str_at(cb, k));
    const tx_config_list_t *la = list_at(ca, k), *lb = list_at(cb, k);
    if (la->n != lb->n) return 1;
    for (size_t j = 0; j < la->n; j++)
        if (strcmp(la->v[j], lb->v[j]) != 0) return 1;
    return 0;
}

static int endpoint_keys_changed(const tx_config_t *a, const tx_config_t *b)
{
    if (a->endpoints.n != b->endpoints.n) return 1;
    for (size_t j = 0; j < a->endpoints.n; j++)
        if (!same_str(a->endpoints.v[j].api_key, b->endpoints.v[j].api_key)) return 1;
    return 0;
}

int tx_config_diff(const tx_config_t *old, const tx_config_t *new_cfg, tx_config_diff_cb cb,
                   void *ud)
{
    if (old == NULL || new_cfg == NULL || cb == NULL) return -1;
    int changed = 0;
    for (int i = 0; i < TX_CFG__LAST; i++) {
        json_t *a = tx_config_value_json(old, (tx_config_key_t)i);
        json_t *b = tx_config_value_json(new_cfg, (tx_config_key_t)i);
        int differs = a != NULL && b != NULL && !json_equal(a, b);
        if (tx_config_key_is_secret((tx_config_key_t)i)) differs = secret_changed(old, new_cfg, i);
        if (i == TX_CFG_AI_BASE_URLS && !differs) differs = endpoint_keys_changed(old, new_cfg);
        char *text = differs && b != NULL ? json_dumps(b, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        json_decref(a);
        json_decref(b);
        if (a == NULL || b == NULL || (differs && text == NULL)) {
            free(text);
            return -1;
        }
        if (differs) {
            cb(keys[i].name, text, source_names[new_cfg->source[i]], ud);
            changed++;
        }
        free(text);
    }
    return changed;
}
