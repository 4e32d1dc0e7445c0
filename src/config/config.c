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

enum ktype { T_INT, T_STR, T_JITTER, T_LIST, T_ENDPOINTS, T_PROVIDERS, T_SECRET, T_SECRET_LIST };

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

static void pairs_free(tx_config_pair_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
}

static void provider_free(tx_config_provider_t *p)
{
    free(p->name);
    free(p->preset);
    endpoints_free(&p->base_urls);
    free(p->api_key_env);
    pairs_free(p->headers, p->nheaders);
    pairs_free(p->query, p->nquery);
    free(p->query_string);
    pairs_free(p->models, p->nmodels);
    memset(p, 0, sizeof *p);
}

static void providers_free(tx_config_providers_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        provider_free(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void route_eps_free(tx_config_t *c)
{
    for (size_t i = 0; i < c->n_route_eps; i++) {
        free(c->route_eps[i].auth_value);
        free(c->route_eps[i].ident);
    }
    memset(c->route_eps, 0, sizeof c->route_eps);
    c->n_route_eps = 0;
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
    case T_PROVIDERS:
        providers_free(&c->providers);
        route_eps_free(c);
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
    const char *why = tx__url_parse(url, &u);
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
    if (k == &keys[TX_CFG_AI_ADAPTIVE_CONCURRENCY] && strcmp(s, "on") != 0 && strcmp(s, "off") != 0)
        return "must be on or off";
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
        return tx__error_setf(x->err, TX_ERANGE, "%s=%s (%s): %s", x->k->name, shown, x->layer,
                              bad);
    char *copy = strndup(s, len);
    if (copy == NULL) return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
    char **slot = str_at(x->cfg, x->k);
    free(*slot);
    *slot = copy;
    return TX_EOK;
}

static tx_err_t set_int(ctx_t *x, int64_t v)
{
    if (v < x->k->lo || v > x->k->hi)
        return tx__error_setf(x->err, TX_ERANGE, "%s=%lld (%s): out of bounds %lld..%lld",
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
    return tx__error_setf(x->err, TX_ERANGE,
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
                return tx__error_setf(
                    x->err, TX_EINVAL,
                    "%s[%zu] (%s): unknown field \"%s\" (allowed: url, name, api_key_env%s)",
                    x->k->name, idx, x->layer, fs,
                    strstr(f, "key") ? "; secrets come only from the environment" : "");
            }
            if (!json_is_string(v))
                return tx__error_setf(x->err, TX_EINVAL, "%s[%zu].%s (%s): must be a string",
                                      x->k->name, idx, f, x->layer);
            *slot = json_string_value(v);
        }
        if (url == NULL)
            return tx__error_setf(x->err, TX_EINVAL, "%s[%zu]=%s (%s): missing \"url\"", x->k->name,
                                  idx, shown, x->layer);
    } else {
        return tx__error_setf(x->err, TX_EINVAL,
                              "%s[%zu]=%s (%s): must be a URL string or an object", x->k->name, idx,
                              shown, x->layer);
    }
    char *host = NULL;
    const char *bad = strlen(url) > 2048 ? "URL longer than 2048 bytes" : url_check(url, &host);
    if (bad != NULL)
        return tx__error_setf(x->err, strcmp(bad, "out of memory") == 0 ? TX_ENOMEM : TX_EINVAL,
                              "%s[%zu]=%s (%s): %s", x->k->name, idx, shown, x->layer, bad);
    if (name != NULL && (name[0] == '\0' || strlen(name) > 128)) {
        free(host);
        return tx__error_setf(x->err, TX_EINVAL, "%s[%zu] (%s): name must be 1..128 bytes",
                              x->k->name, idx, x->layer);
    }
    if (key_env != NULL && !env_name_ok(key_env)) {
        free(host);
        return tx__error_setf(x->err, TX_EINVAL,
                              "%s[%zu] (%s): api_key_env must be a variable name", x->k->name, idx,
                              x->layer);
    }
    ep->url = strdup(url);
    ep->name = strdup(name != NULL ? name : host);
    ep->api_key_env = key_env != NULL ? strdup(key_env) : NULL;
    free(host);
    if (ep->url == NULL || ep->name == NULL || (key_env != NULL && ep->api_key_env == NULL))
        return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
    return TX_EOK;
}

/* ---- providers (AI_PROVIDERS) ------------------------------------------------------------- */

/* What a preset fills in: base URL (NULL: must be given), auth style, key variable (NULL: no
 * key). One row per preset. */
static const struct {
    const char *name, *base_url;
    tx_config_auth_t auth;
    const char *key_env;
} presets[] = {
    {"openai", "https://api.openai.com/v1", TX_AUTH_BEARER, "OPENAI_API_KEY"},
    {"azure", NULL, TX_AUTH_API_KEY, "AZURE_OPENAI_API_KEY"},
    {"openrouter", "https://openrouter.ai/api/v1", TX_AUTH_BEARER, "OPENROUTER_API_KEY"},
    {"zai", "https://api.z.ai/api/paas/v4", TX_AUTH_BEARER, "ZAI_API_KEY"},
    {"anthropic", "https://api.anthropic.com/v1", TX_AUTH_BEARER, "ANTHROPIC_API_KEY"},
    {"gemini", "https://generativelanguage.googleapis.com/v1beta/openai", TX_AUTH_BEARER,
     "GEMINI_API_KEY"},
    {"deepseek", "https://api.deepseek.com/v1", TX_AUTH_BEARER, "DEEPSEEK_API_KEY"},
    {"groq", "https://api.groq.com/openai/v1", TX_AUTH_BEARER, "GROQ_API_KEY"},
    {"mistral", "https://api.mistral.ai/v1", TX_AUTH_BEARER, "MISTRAL_API_KEY"},
    {"ollama", "http://127.0.0.1:11434/v1", TX_AUTH_BEARER, NULL},
    {"generic", NULL, TX_AUTH_BEARER, NULL},
};
#define N_PRESETS (sizeof presets / sizeof presets[0])
#define MAX_PROVIDER_MODELS 256
#define MAX_PROVIDER_PAIRS 32

static int provider_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || isdigit((unsigned char)*p) || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* An HTTP header name (token characters) that tenax does not set itself. */
static const char *header_name_bad(const char *s)
{
    static const char *const own[] = {
        "host",       "content-length", "content-type", "transfer-encoding",
        "connection", "authorization",  "api-key",      "accept"};
    if (s[0] == '\0' || strlen(s) > 64) return "a header name must be 1..64 bytes";
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("!#$%&'*+-.^_`|~", *p) == NULL)
            return "a header name must be an HTTP token";
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (strcasecmp(s, own[i]) == 0)
            return "tenax sets this header itself (the key comes from api_key_env)";
    return NULL;
}

/* A JSON object of strings into pairs. `what` is "headers", "query" or "models". */
static tx_err_t pairs_from(ctx_t *x, const char *who, const char *what, const json_t *obj,
                           tx_config_pair_t **out, size_t *nout, size_t max)
{
    if (!json_is_object(obj))
        return tx__error_setf(x->err, TX_EINVAL, "%s.%s (%s): must be an object of strings", who,
                              what, x->layer);
    size_t n = json_object_size(obj);
    if (n > max)
        return tx__error_setf(x->err, TX_ERANGE, "%s.%s (%s): %zu entries, at most %zu", who, what,
                              x->layer, n, max);
    tx_config_pair_t *v = calloc(n ? n : 1, sizeof *v);
    if (v == NULL) return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
    size_t k = 0;
    const char *f;
    json_t *val;
    tx_err_t rc = TX_EOK;
    json_object_foreach((json_t *)obj, f, val)
    {
        char fs[48];
        show(fs, sizeof fs, f, strlen(f));
        size_t vl = json_string_length(val);
        const char *bad = NULL;
        if (!json_is_string(val) || memchr(json_string_value(val), '\0', vl) != NULL)
            bad = "must be a string";
        else if (strcmp(what, "headers") == 0)
            bad = header_name_bad(f) ? header_name_bad(f)
                  : (strpbrk(json_string_value(val), "\r\n") != NULL || vl > 1024)
                      ? "a header value must be one line of at most 1024 bytes"
                      : NULL;
        else if (f[0] == '\0' || strlen(f) > 256 || vl == 0 || vl > 256)
            bad = "names and values must be 1..256 bytes";
        if (bad != NULL) {
            rc = tx__error_setf(x->err, TX_EINVAL, "%s.%s[\"%s\"] (%s): %s", who, what, fs,
                                x->layer, bad);
            break;
        }
        v[k].name = strdup(f);
        v[k].value = strdup(json_string_value(val));
        k++;
        if (v[k - 1].name == NULL || v[k - 1].value == NULL) {
            rc = tx__error_setf(x->err, TX_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc != TX_EOK) {
        pairs_free(v, k);
        return rc;
    }
    *out = v;
    *nout = k;
    return TX_EOK;
}

/* "a=b&c=d" with RFC 3986 percent-encoding; NULL when there are no parameters. */
static char *query_string(const tx_config_pair_t *q, size_t n)
{
    if (n == 0) return NULL;
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += 3 * (strlen(q[i].name) + strlen(q[i].value)) + 2;
    char *out = malloc(cap), *o = out;
    if (out == NULL) return NULL;
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        if (i > 0) *o++ = '&';
        for (int part = 0; part < 2; part++) {
            for (const unsigned char *p = (const unsigned char *)(part ? q[i].value : q[i].name);
                 *p; p++) {
                if (isalnum(*p) || strchr("-._~", *p) != NULL) {
                    *o++ = (char)*p;
                } else {
                    *o++ = '%';
                    *o++ = hex[*p >> 4];
                    *o++ = hex[*p & 15];
                }
            }
            if (part == 0) *o++ = '=';
        }
    }
    *o = '\0';
    return out;
}

/* `models`: a list of names served unchanged, or an object client name -> provider's name;
 * "*" serves any other name unchanged. */
static tx_err_t models_from(ctx_t *x, const char *who, const json_t *v, tx_config_provider_t *p)
{
    if (json_is_object(v)) {
        tx_err_t rc = pairs_from(x, who, "models", v, &p->models, &p->nmodels, MAX_PROVIDER_MODELS);
        if (rc != TX_EOK) return rc;
    } else if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (n > MAX_PROVIDER_MODELS)
            return tx__error_setf(x->err, TX_ERANGE, "%s.models (%s): %zu entries, at most %d", who,
                                  x->layer, n, MAX_PROVIDER_MODELS);
        p->models = calloc(n ? n : 1, sizeof *p->models);
        if (p->models == NULL) return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            const json_t *it = json_array_get(v, i);
            size_t len = json_string_length(it);
            if (!json_is_string(it) || len == 0 || len > 256 ||
                memchr(json_string_value(it), '\0', len) != NULL)
                return tx__error_setf(x->err, TX_EINVAL,
                                      "%s.models[%zu] (%s): must be a string of 1..256 bytes", who,
                                      i, x->layer);
            tx_config_pair_t *m = &p->models[p->nmodels++];
            m->name = strdup(json_string_value(it));
            m->value = strdup(json_string_value(it));
            if (m->name == NULL || m->value == NULL)
                return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
        }
    } else {
        return tx__error_setf(x->err, TX_EINVAL,
                              "%s.models (%s): must be a list of names or an object of names", who,
                              x->layer);
    }
    if (p->nmodels == 0)
        return tx__error_setf(x->err, TX_EINVAL, "%s.models (%s): serves no model", who, x->layer);
    /* "*" is a flag, not a name */
    size_t k = 0;
    for (size_t i = 0; i < p->nmodels; i++) {
        if (strcmp(p->models[i].name, "*") == 0) {
            if (strcmp(p->models[i].value, "*") != 0)
                return tx__error_setf(
                    x->err, TX_EINVAL,
                    "%s.models (%s): \"*\" can only map to \"*\" (any other name, "
                    "unchanged)",
                    who, x->layer);
            p->star = 1;
            free(p->models[i].name);
            free(p->models[i].value);
            continue;
        }
        p->models[k++] = p->models[i];
    }
    p->nmodels = k;
    return TX_EOK;
}

static tx_err_t provider_from(ctx_t *x, size_t idx, const json_t *item, tx_config_provider_t *p)
{
    char who[96];
    snprintf(who, sizeof who, "%s[%zu]", x->k->name, idx);
    if (!json_is_object(item))
        return tx__error_setf(x->err, TX_EINVAL, "%s (%s): a provider must be an object", who,
                              x->layer);
    const json_t *name = json_object_get(item, "name");
    if (!json_is_string(name) || !provider_name_ok(json_string_value(name)))
        return tx__error_setf(x->err, TX_EINVAL,
                              "%s (%s): \"name\" is required, 1..32 of [a-z0-9_-]", who, x->layer);
    snprintf(who, sizeof who, "%s provider \"%s\"", x->k->name, json_string_value(name));
    if ((p->name = strdup(json_string_value(name))) == NULL)
        return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
    static const char *const fields[] = {"name", "preset",  "base_urls", "api_key_env",
                                         "auth", "headers", "query",     "models"};
    const char *f;
    json_t *v;
    json_object_foreach((json_t *)item, f, v)
    {
        size_t i = 0;
        while (i < sizeof fields / sizeof fields[0] && strcmp(f, fields[i]) != 0)
            i++;
        if (i == sizeof fields / sizeof fields[0]) {
            char fs[40];
            show(fs, sizeof fs, f, strlen(f));
            return tx__error_setf(
                x->err, TX_EINVAL,
                "%s (%s): unknown field \"%s\" (allowed: name, preset, base_urls, "
                "api_key_env, auth, headers, query, models%s)",
                who, x->layer, fs, strstr(f, "key") ? "; keys come only from the environment" : "");
        }
    }
    int preset = -1;
    const json_t *pv = json_object_get(item, "preset");
    if (pv != NULL) {
        for (size_t i = 0; json_is_string(pv) && i < N_PRESETS; i++)
            if (strcmp(json_string_value(pv), presets[i].name) == 0) preset = (int)i;
        if (preset < 0) {
            char ps[48];
            show_json(ps, sizeof ps, pv);
            return tx__error_setf(
                x->err, TX_EINVAL,
                "%s (%s): unknown preset %s (one of openai, azure, openrouter, "
                "zai, anthropic, gemini, deepseek, groq, mistral, ollama, generic)",
                who, x->layer, ps);
        }
        if ((p->preset = strdup(presets[preset].name)) == NULL)
            return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
    }
    /* auth */
    p->auth = preset >= 0 ? presets[preset].auth : TX_AUTH_BEARER;
    const json_t *av = json_object_get(item, "auth");
    if (av != NULL) {
        const char *a = json_string_value(av);
        if (a != NULL && strcmp(a, "bearer") == 0)
            p->auth = TX_AUTH_BEARER;
        else if (a != NULL && strcmp(a, "api-key") == 0)
            p->auth = TX_AUTH_API_KEY;
        else
            return tx__error_setf(x->err, TX_EINVAL,
                                  "%s.auth (%s): must be \"bearer\" or \"api-key\"", who, x->layer);
    }
    /* api_key_env */
    const json_t *kv = json_object_get(item, "api_key_env");
    const char *key_env = preset >= 0 ? presets[preset].key_env : NULL;
    if (kv != NULL) {
        if (json_is_null(kv))
            key_env = NULL; /* a preset's variable turned off: no key */
        else if (!json_is_string(kv) || !env_name_ok(json_string_value(kv)))
            return tx__error_setf(x->err, TX_EINVAL,
                                  "%s.api_key_env (%s): must be an environment variable name", who,
                                  x->layer);
        else
            key_env = json_string_value(kv);
    }
    if (key_env != NULL && (p->api_key_env = strdup(key_env)) == NULL)
        return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
    /* base_urls: given, or the preset's */
    const json_t *bv = json_object_get(item, "base_urls");
    json_t *own = NULL;
    if (bv == NULL && preset >= 0 && presets[preset].base_url != NULL)
        bv = own = json_pack("[s]", presets[preset].base_url);
    if (json_is_string(bv)) { /* one URL, or comma-separated as in the environment */
        own = json_array();
        const char *u = json_string_value(bv);
        while (own != NULL && *u) {
            const char *e = strchr(u, ',');
            size_t l = e ? (size_t)(e - u) : strlen(u);
            while (l > 0 && isspace((unsigned char)*u))
                u++, l--;
            while (l > 0 && isspace((unsigned char)u[l - 1]))
                l--;
            if (l > 0) json_array_append_new(own, json_stringn(u, l));
            if (e == NULL) break;
            u = e + 1;
        }
        bv = own;
    }
    tx_err_t rc = TX_EOK;
    if (bv == NULL) {
        rc =
            tx__error_setf(x->err, TX_EINVAL, "%s (%s): \"base_urls\" is required%s", who, x->layer,
                           preset >= 0 ? " for this preset" : " (or a preset that has one)");
    } else if (!json_is_array(bv) || json_array_size(bv) < 1 ||
               json_array_size(bv) > TX_ENDPOINTS_PER_PROVIDER) {
        rc = tx__error_setf(x->err, TX_ERANGE, "%s.base_urls (%s): must hold 1..%d URLs", who,
                            x->layer, TX_ENDPOINTS_PER_PROVIDER);
    } else {
        size_t n = json_array_size(bv);
        p->base_urls.v = calloc(n, sizeof *p->base_urls.v);
        if (p->base_urls.v == NULL) rc = tx__error_setf(x->err, TX_ENOMEM, "out of memory");
        kdesc_t sub = *x->k;
        char subname[112];
        snprintf(subname, sizeof subname, "%s.base_urls", who);
        sub.name = subname;
        ctx_t sx = {x->cfg, &sub, x->layer, x->err};
        for (size_t i = 0; i < n && rc == TX_EOK; i++, p->base_urls.n++)
            rc = endpoint_from(&sx, i, json_array_get(bv, i), &p->base_urls.v[i]);
    }
    json_decref(own);
    if (rc != TX_EOK) return rc;
    const json_t *hv = json_object_get(item, "headers");
    if (hv != NULL && (rc = pairs_from(x, who, "headers", hv, &p->headers, &p->nheaders,
                                       MAX_PROVIDER_PAIRS)) != TX_EOK)
        return rc;
    const json_t *qv = json_object_get(item, "query");
    if (qv != NULL &&
        (rc = pairs_from(x, who, "query", qv, &p->query, &p->nquery, MAX_PROVIDER_PAIRS)) != TX_EOK)
        return rc;
    if (p->nquery > 0 && (p->query_string = query_string(p->query, p->nquery)) == NULL)
        return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
    const json_t *mv = json_object_get(item, "models");
    if (mv == NULL)
        return tx__error_setf(x->err, TX_EINVAL,
                              "%s (%s): \"models\" is required (a list of names, an object of "
                              "names, or [\"*\"])",
                              who, x->layer);
    return models_from(x, who, mv, p);
}

static tx_err_t set_providers_json(ctx_t *x, const json_t *arr, size_t n)
{
    tx_config_providers_t l = {calloc(n ? n : 1, sizeof(tx_config_provider_t)), 0};
    if (l.v == NULL) return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
    tx_err_t rc = TX_EOK;
    size_t eps = 0;
    for (size_t i = 0; i < n && rc == TX_EOK; i++, l.n++) {
        rc = provider_from(x, i, json_array_get(arr, i), &l.v[i]);
        for (size_t j = 0; rc == TX_EOK && j < i; j++)
            if (strcmp(l.v[j].name, l.v[i].name) == 0)
                rc = tx__error_setf(x->err, TX_EINVAL,
                                    "%s provider \"%s\" (%s): two providers of one name",
                                    x->k->name, l.v[i].name, x->layer);
        eps += l.v[i].base_urls.n;
        if (rc == TX_EOK && eps > TX_ROUTE_EPS_MAX)
            rc = tx__error_setf(x->err, TX_ERANGE, "%s (%s): more than %d base URLs in all",
                                x->k->name, x->layer, TX_ROUTE_EPS_MAX);
    }
    if (rc != TX_EOK) {
        providers_free(&l);
        return rc;
    }
    providers_free(&x->cfg->providers);
    x->cfg->providers = l;
    return TX_EOK;
}

/* A list (strings or endpoints) from a JSON array. */
static tx_err_t set_list_json(ctx_t *x, const json_t *arr)
{
    char shown[80] = "***";
    if (x->k->type != T_SECRET_LIST) show_json(shown, sizeof shown, arr);
    if (!json_is_array(arr))
        return tx__error_setf(x->err, TX_EINVAL, "%s=%s (%s): must be a JSON array", x->k->name,
                              shown, x->layer);
    size_t n = json_array_size(arr);
    if ((int64_t)n < x->k->lo || (int64_t)n > x->k->hi)
        return tx__error_setf(x->err, TX_ERANGE,
                              "%s=%s (%s): %zu entries, out of bounds %lld..%lld", x->k->name,
                              shown, x->layer, n, (long long)x->k->lo, (long long)x->k->hi);
    tx_err_t rc = TX_EOK;
    if (x->k->type == T_PROVIDERS) return set_providers_json(x, arr, n);
    if (x->k->type == T_ENDPOINTS) {
        tx_config_endpoints_t e = {calloc(n ? n : 1, sizeof(tx_config_endpoint_t)), 0};
        if (e.v == NULL) return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
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
    if (l.v == NULL) return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == TX_EOK; i++) {
        const json_t *it = json_array_get(arr, i);
        size_t len = json_string_length(it);
        if (!json_is_string(it) || len == 0 || len > 256 ||
            memchr(json_string_value(it), '\0', len) != NULL)
            rc = tx__error_setf(x->err, TX_EINVAL,
                                "%s=%s (%s): entry %zu must be a string of 1..256 bytes",
                                x->k->name, shown, x->layer, i);
        else if ((l.v[l.n++] = strdup(json_string_value(it))) == NULL)
            rc = tx__error_setf(x->err, TX_ENOMEM, "out of memory");
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
    if (x->k->type == T_PROVIDERS && *p != '[')
        return tx__error_setf(x->err, TX_EINVAL, "%s=%s (%s): must be a JSON array of providers",
                              x->k->name, shown, x->layer);
    if (*p == '[' && x->k->type != T_SECRET_LIST) {
        json_error_t je;
        arr = json_loads(p, JSON_REJECT_DUPLICATES, &je);
        if (arr == NULL)
            return tx__error_setf(x->err, TX_EPARSE, "%s=%s (%s): not a valid JSON array: %s",
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
                    return tx__error_setf(x->err, TX_EINVAL, "%s (%s): not valid UTF-8", x->k->name,
                                          x->layer);
                }
                json_array_append_new(arr, item);
            }
            if (end == NULL) break;
            start = end + 1;
        }
        if (arr == NULL) return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
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
        return tx__error_setf(x->err, TX_ERANGE, "%s (%s): value longer than %d bytes", x->k->name,
                              x->layer, MAX_ENV_BYTES);
    switch (x->k->type) {
    case T_INT: {
        int64_t v;
        if (parse_int(s, len, &v) != 0)
            return tx__error_setf(x->err, TX_EINVAL, "%s=%s (%s): not an integer", x->k->name,
                                  shown, x->layer);
        return set_int(x, v);
    }
    case T_STR:
        return set_string(x, s, len, shown);
    case T_JITTER:
        return set_jitter(x, s, shown);
    case T_SECRET: {
        if (!utf8_ok(s, len))
            return tx__error_setf(x->err, TX_EINVAL, "%s (%s): not valid UTF-8", x->k->name,
                                  x->layer);
        char *copy = len ? strdup(s) : NULL;
        if (len && copy == NULL) return tx__error_setf(x->err, TX_ENOMEM, "out of memory");
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
                return tx__error_setf(x->err, TX_EINVAL, "%s=%s (%s): not an integer", x->k->name,
                                      shown, x->layer);
            return set_int(x, n);
        }
        return tx__error_setf(x->err, TX_EINVAL, "%s=%s (%s): must be an integer", x->k->name,
                              shown, x->layer);
    case T_STR:
    case T_JITTER:
        if (!json_is_string(v))
            return tx__error_setf(x->err, TX_EINVAL, "%s=%s (%s): must be a string", x->k->name,
                                  shown, x->layer);
        if (x->k->type == T_JITTER) return set_jitter(x, json_string_value(v), shown);
        return set_string(x, json_string_value(v), json_string_length(v), shown);
    default:
        /* a list given as a string reads like the environment's form (comma-separated, or a
         * JSON array in a string) */
        if (json_is_string(v) && memchr(json_string_value(v), '\0', json_string_length(v)) == NULL)
            return set_list_text(x, json_string_value(v), shown);
        return set_list_json(x, v);
    }
}

static const char *env_get(const tx_config_env_t *env, const char *name)
{
    if (name == NULL) return NULL;
    const char *v = env != NULL ? env->lookup(env->ud, name) : getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL; /* empty counts as unset */
}

const char *tx__config_envp_lookup(void *envp, const char *name)
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
        return tx__error_setf(err, TX_EPARSE, "not valid JSON at line %d column %d: %s", je.line,
                              je.column, je.text);
    tx_err_t rc = TX_EOK;
    if (!json_is_object(root)) {
        rc = tx__error_setf(err, TX_EPARSE, "the config must be a JSON object");
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
            rc = tx__error_setf(err, TX_EINVAL, "unknown key \"%s\"", shown);
            goto out;
        }
        if (keys[i].type == T_SECRET || keys[i].type == T_SECRET_LIST) {
            rc = tx__error_setf(
                err, TX_EINVAL,
                "%s: secrets are not allowed in the config file (set it in the environment)",
                shown);
            goto out;
        }
        if (alias && json_object_get(root, keys[i].name) != NULL) {
            rc = tx__error_setf(err, TX_EINVAL, "both %s and its alias %s are set", keys[i].name,
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

static char *dup_or_null(const char *s, int *oom)
{
    if (s == NULL) return NULL;
    char *d = strdup(s);
    if (d == NULL) *oom = 1;
    return d;
}

static char *join3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    if (s == NULL) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

/* Resolves the providers (the implicit `default` from AI_BASE_URLS when none are given), their
 * keys from the environment, and the flat endpoint list the routes use. */
static tx_err_t resolve_routes(tx_config_t *c, const tx_config_env_t *env, tx_error_t *err)
{
    int oom = 0;
    if (c->providers.n == 0) {
        tx_config_provider_t *p = calloc(1, sizeof *p);
        if (p == NULL) return tx__error_setf(err, TX_ENOMEM, "out of memory");
        free(c->providers.v); /* an empty list's array */
        c->providers.v = p;
        c->providers.n = 1;
        p->name = dup_or_null("default", &oom);
        p->implicit = p->star = 1;
        p->auth = TX_AUTH_BEARER;
        p->base_urls.v = calloc(c->endpoints.n ? c->endpoints.n : 1, sizeof *p->base_urls.v);
        if (p->base_urls.v == NULL) oom = 1;
        for (size_t i = 0; !oom && i < c->endpoints.n; i++, p->base_urls.n++) {
            const tx_config_endpoint_t *e = &c->endpoints.v[i];
            tx_config_endpoint_t *d = &p->base_urls.v[i];
            d->url = dup_or_null(e->url, &oom);
            d->name = dup_or_null(e->name, &oom);
            d->api_key_env = dup_or_null(e->api_key_env, &oom);
            d->api_key = dup_or_null(e->api_key, &oom);
        }
    } else {
        for (size_t i = 0; !oom && i < c->providers.n; i++) {
            tx_config_provider_t *p = &c->providers.v[i];
            /* the provider's key is needed only by base URLs without a key of their own; an
             * empty variable is as good as unset (it would send no key and earn 401s) */
            int shared = 0;
            for (size_t j = 0; j < p->base_urls.n; j++)
                if (p->base_urls.v[j].api_key_env == NULL) shared = 1;
            const char *key = NULL;
            if (shared && p->api_key_env != NULL &&
                ((key = env_get(env, p->api_key_env)) == NULL || key[0] == '\0'))
                return tx__error_setf(err, TX_EINVAL,
                                      "AI_PROVIDERS provider \"%s\": api_key_env %s is not set in "
                                      "the environment (or empty)",
                                      p->name, p->api_key_env);
            for (size_t j = 0; j < p->base_urls.n; j++) {
                tx_config_endpoint_t *e = &p->base_urls.v[j];
                const char *k = key;
                if (e->api_key_env != NULL &&
                    ((k = env_get(env, e->api_key_env)) == NULL || k[0] == '\0'))
                    return tx__error_setf(
                        err, TX_EINVAL,
                        "AI_PROVIDERS provider \"%s\": base_urls[%zu] api_key_env "
                        "%s is not set in the environment (or empty)",
                        p->name, j, e->api_key_env);
                e->api_key = dup_or_null(k, &oom);
            }
        }
    }
    size_t n = 0;
    for (size_t i = 0; !oom && i < c->providers.n; i++) {
        tx_config_provider_t *p = &c->providers.v[i];
        p->ep_first = n;
        for (size_t j = 0; j < p->base_urls.n && n < TX_ROUTE_EPS_MAX; j++, n++) {
            const tx_config_endpoint_t *e = &p->base_urls.v[j];
            tx_config_route_ep_t *r = &c->route_eps[n];
            r->url = e->url;
            r->name = e->name;
            r->provider = (int)i;
            r->ident = p->implicit ? strdup(e->url) : join3(p->name, "\x1f", e->url);
            if (r->ident == NULL) oom = 1;
            if (e->api_key != NULL && e->api_key[0] != '\0') {
                int bearer = p->auth == TX_AUTH_BEARER;
                r->auth_name = bearer ? "Authorization" : "api-key";
                r->auth_value = join3(bearer ? "Bearer " : "", e->api_key, "");
                if (r->auth_value == NULL) oom = 1;
            }
        }
    }
    c->n_route_eps = n;
    return oom ? tx__error_setf(err, TX_ENOMEM, "out of memory") : TX_EOK;
}

static tx_err_t build(const tx_config_env_t *env, const char *text, size_t len, const char *path,
                      tx_config_t **out, tx_error_t *err)
{
    tx_config_t *c = calloc(1, sizeof *c);
    if (c == NULL) return tx__error_setf(err, TX_ENOMEM, "out of memory");
    atomic_init(&c->refs, 1);
    tx_err_t rc = TX_EOK;
    if (path != NULL && (c->path = strdup(path)) == NULL) {
        rc = tx__error_setf(err, TX_ENOMEM, "out of memory");
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
        rc = tx__error_setf(err, TX_ERANGE,
                            "AI_RETRY_DELAY_MS=%lld exceeds AI_RETRY_MAX_DELAY_MS=%lld",
                            (long long)c->ai_retry_delay_ms, (long long)c->ai_retry_max_delay_ms);
        goto fail;
    }
    if (c->job_park_base_ms > c->job_park_max_ms) {
        rc = tx__error_setf(err, TX_ERANGE, "JOB_PARK_BASE_MS=%lld exceeds JOB_PARK_MAX_MS=%lld",
                            (long long)c->job_park_base_ms, (long long)c->job_park_max_ms);
        goto fail;
    }
    for (size_t i = 0; i < c->endpoints.n; i++) {
        tx_config_endpoint_t *ep = &c->endpoints.v[i];
        /* An endpoint naming its own variable never falls back to the global key: that key
         * belongs to another provider. */
        const char *key = ep->api_key_env != NULL ? env_get(env, ep->api_key_env) : c->api_key;
        if (key != NULL && (ep->api_key = strdup(key)) == NULL) {
            rc = tx__error_setf(err, TX_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if ((rc = resolve_routes(c, env, err)) != TX_EOK) goto fail;
    *out = c;
    return TX_EOK;
fail:
    tx__config_unref(c);
    return rc;
}

tx_err_t tx__config_load_text(const tx_config_env_t *env, const char *text, size_t len,
                              tx_config_t **out, tx_error_t *err)
{
    if (out == NULL) return tx__error_setf(err, TX_EINVAL, "no output");
    if (text != NULL && len == 0) text = NULL;
    return build(env, text, len, NULL, out, err);
}

tx_err_t tx__config_load(const tx_config_env_t *env, const char *path, tx_config_t **out,
                         tx_error_t *err)
{
    if (out == NULL) return tx__error_setf(err, TX_EINVAL, "no output");
    if (path == NULL) path = env_get(env, "TENAX_CONFIG");
    if (path == NULL) return build(env, NULL, 0, NULL, out, err);
    char shown[128];
    show(shown, sizeof shown, path, strlen(path));
    FILE *f = fopen(path, "rb");
    if (f == NULL) return tx__error_setf(err, TX_EIO, "cannot open %s: %s", shown, strerror(errno));
    char *buf = malloc(MAX_FILE_BYTES + 1);
    size_t n = buf != NULL ? fread(buf, 1, MAX_FILE_BYTES + 1, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    tx_err_t rc;
    if (buf == NULL)
        rc = tx__error_setf(err, TX_ENOMEM, "out of memory");
    else if (rerr)
        rc = tx__error_setf(err, TX_EIO, "cannot read %s", shown);
    else if (n > MAX_FILE_BYTES)
        rc = tx__error_setf(err, TX_ERANGE, "%s is larger than %d bytes", shown, MAX_FILE_BYTES);
    else if (n == 0)
        rc = tx__error_setf(err, TX_EPARSE, "%s is empty (an empty config is {})", shown);
    else
        rc = build(env, buf, n, path, out, err);
    free(buf);
    return rc;
}

tx_config_t *tx__config_ref(tx_config_t *cfg)
{
    if (cfg != NULL) atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}

void tx__config_unref(tx_config_t *cfg)
{
    if (cfg == NULL || atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) != 1) return;
    for (int i = 0; i < TX_CFG__LAST; i++)
        clear_key(cfg, i);
    free(cfg->path);
    free(cfg);
}

const char *tx__config_key_name(tx_config_key_t key)
{
    return (int)key >= 0 && key < TX_CFG__LAST ? keys[key].name : NULL;
}

const char *tx__config_source_name(tx_config_source_t src)
{
    return (int)src >= 0 && src <= TX_CONFIG_SRC_KV ? source_names[src] : "unknown";
}

int tx__config_key_is_secret(tx_config_key_t key)
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

/* A header or query parameter whose name says it carries a credential (x-api-key,
 * cf-aig-authorization, key, access_token, …): its value is never shown or logged. */
static int pair_is_secret(const char *name)
{
    static const char *const marks[] = {"key",      "token",  "auth", "secret",
                                        "password", "cookie", "sig"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (strcasestr(name, marks[i]) != NULL) return 1;
    return 0;
}

static json_t *pairs_json(const tx_config_pair_t *v, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < n; i++)
        json_object_set_new(o, v[i].name,
                            json_string(pair_is_secret(v[i].name) ? "***" : v[i].value));
    return o;
}

/* One provider as resolved: base URLs, auth style, key variable and whether the key is set
 * (never the key), headers, query, models. */
static json_t *provider_json(const tx_config_provider_t *p)
{
    json_t *urls = json_array();
    int key_set = 0;
    for (size_t i = 0; urls != NULL && i < p->base_urls.n; i++) {
        json_array_append_new(urls, json_string(p->base_urls.v[i].url));
        key_set |= p->base_urls.v[i].api_key != NULL;
    }
    json_t *models = json_object();
    for (size_t i = 0; models != NULL && i < p->nmodels; i++)
        json_object_set_new(models, p->models[i].name, json_string(p->models[i].value));
    if (models != NULL && p->star) json_object_set_new(models, "*", json_string("*"));
    return json_pack("{s:s, s:s?, s:o, s:s, s:s?, s:s, s:o, s:o, s:o}", "name", p->name, "preset",
                     p->preset, "base_urls", urls, "auth",
                     p->auth == TX_AUTH_API_KEY ? "api-key" : "bearer", "api_key_env",
                     p->api_key_env, "api_key", key_set ? "set" : "unset", "headers",
                     pairs_json(p->headers, p->nheaders), "query", pairs_json(p->query, p->nquery),
                     "models", models);
}

json_t *tx__config_value_json(const tx_config_t *cfg, tx_config_key_t key)
{
    if (cfg == NULL || (int)key < 0 || key >= TX_CFG__LAST) return NULL;
    tx_config_t *c = (tx_config_t *)cfg; /* read only */
    const kdesc_t *k = &keys[key];
    switch (k->type) {
    case T_INT:
        return json_integer(*int_at(c, k));
    case T_STR:
        if (key == TX_CFG_TENAX_STORE) { /* shown and logged without a PostgreSQL password */
            const char *v = *str_at(c, k);
            size_t cap = (v != NULL ? strlen(v) : 0) + 4;
            char *shown = malloc(cap);
            if (shown == NULL) return NULL;
            tx__url_show(v, shown, cap);
            json_t *j = json_string(shown);
            free(shown);
            return j;
        }
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
    case T_PROVIDERS: {
        /* the implicit `default` is AI_BASE_URLS, shown there */
        json_t *a = json_array();
        for (size_t i = 0; a != NULL && i < c->providers.n && !c->providers.v[i].implicit; i++) {
            json_t *o = provider_json(&c->providers.v[i]);
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

json_t *tx__config_to_json(const tx_config_t *cfg)
{
    if (cfg == NULL) return NULL;
    json_t *o = json_object();
    for (int i = 0; o != NULL && i < TX_CFG__LAST; i++) {
        json_t *v = tx__config_value_json(cfg, (tx_config_key_t)i);
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

static int pairs_changed(const tx_config_pair_t *a, size_t na, const tx_config_pair_t *b, size_t nb)
{
    if (na != nb) return 1;
    for (size_t i = 0; i < na; i++)
        if (!same_str(a[i].name, b[i].name) || !same_str(a[i].value, b[i].value)) return 1;
    return 0;
}

/* What the shown (masked) providers cannot tell apart: keys and credential-like header and query
 * values. */
static int route_keys_changed(const tx_config_t *a, const tx_config_t *b)
{
    if (a->n_route_eps != b->n_route_eps) return 1;
    for (size_t j = 0; j < a->n_route_eps; j++)
        if (!same_str(a->route_eps[j].auth_value, b->route_eps[j].auth_value)) return 1;
    if (a->providers.n != b->providers.n) return 1;
    for (size_t i = 0; i < a->providers.n; i++) {
        const tx_config_provider_t *p = &a->providers.v[i], *q = &b->providers.v[i];
        if (pairs_changed(p->headers, p->nheaders, q->headers, q->nheaders) ||
            pairs_changed(p->query, p->nquery, q->query, q->nquery))
            return 1;
    }
    return 0;
}

static int endpoint_keys_changed(const tx_config_t *a, const tx_config_t *b)
{
    if (a->endpoints.n != b->endpoints.n) return 1;
    for (size_t j = 0; j < a->endpoints.n; j++)
        if (!same_str(a->endpoints.v[j].api_key, b->endpoints.v[j].api_key)) return 1;
    return 0;
}

int tx__config_diff(const tx_config_t *old, const tx_config_t *new_cfg, tx_config_diff_cb cb,
                    void *ud)
{
    if (old == NULL || new_cfg == NULL || cb == NULL) return -1;
    int changed = 0;
    for (int i = 0; i < TX_CFG__LAST; i++) {
        json_t *a = tx__config_value_json(old, (tx_config_key_t)i);
        json_t *b = tx__config_value_json(new_cfg, (tx_config_key_t)i);
        int differs = a != NULL && b != NULL && !json_equal(a, b);
        if (tx__config_key_is_secret((tx_config_key_t)i)) differs = secret_changed(old, new_cfg, i);
        if (i == TX_CFG_AI_BASE_URLS && !differs) differs = endpoint_keys_changed(old, new_cfg);
        if (i == TX_CFG_TENAX_STORE) { /* a new password alone is a change too */
            const char *sa = old->store, *sb = new_cfg->store;
            differs = strcmp(sa != NULL ? sa : "", sb != NULL ? sb : "") != 0;
        }
        if (i == TX_CFG_AI_PROVIDERS && !differs && new_cfg->providers.n > 0 &&
            !new_cfg->providers.v[0].implicit)
            differs = route_keys_changed(old, new_cfg);
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

size_t tx__config_resolve(const tx_config_t *cfg, const char *model, tx_config_route_t *out,
                          size_t cap)
{
    if (cfg == NULL || model == NULL) return 0;
    size_t n = 0;
    for (size_t i = 0; i < cfg->providers.n; i++) {
        const tx_config_provider_t *p = &cfg->providers.v[i];
        const char *up = NULL;
        for (size_t j = 0; j < p->nmodels; j++)
            if (p->models[j].name[0] == model[0] && strcmp(p->models[j].name, model) == 0) {
                up = p->models[j].value;
                break;
            }
        if (up == NULL && p->star) up = model;
        if (up == NULL) continue;
        if (n < cap) out[n] = (tx_config_route_t){(int)i, up};
        n++;
    }
    return n;
}

json_t *tx__config_model_names(const tx_config_t *cfg)
{
    json_t *a = json_array(), *seen = json_object();
    for (size_t i = 0; a != NULL && seen != NULL && cfg != NULL && i < cfg->providers.n; i++) {
        const tx_config_provider_t *p = &cfg->providers.v[i];
        for (size_t j = 0; j < p->nmodels; j++) {
            if (json_object_get(seen, p->models[j].name) != NULL) continue;
            json_object_set_new(seen, p->models[j].name, json_true());
            json_array_append_new(a, json_string(p->models[j].name));
        }
    }
    json_decref(seen);
    return a;
}

int tx__config_adaptive(const tx_config_t *cfg)
{
    return cfg != NULL && cfg->ai_adaptive_concurrency != NULL &&
           strcmp(cfg->ai_adaptive_concurrency, "off") != 0;
}
