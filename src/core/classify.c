/* The classifier (docs/classifier.md): status, provider codes (OpenAI, OpenRouter, Z.AI, Anthropic,
 * Azure), case-insensitive keywords and the shape of a 2xx body decide the class. Bodies are
 * parsed with cJSON (several times faster than jansson on this hot path; docs/classifier.md);
 * nothing here allocates except cJSON while parsing. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <math.h>

#include "core/classify_tree.h"
#include "core/json_scan.h"
#include "core/utf8.h"
#include "tenax/classify.h"
#include "tenax/retry_after.h"

/* Bodies larger than this are not parsed (a 2xx this big is invalid_response). */
#define MAX_BODY ((size_t)64 << 20)

/* Thin, NULL-safe accessors over cJSON, named after what the code asks. Member lookup is
 * case-sensitive (cJSON_GetObjectItem is not) and gives NULL on a non-object. */
static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *jstr(const cJSON *v)
{
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static size_t jlen(const cJSON *v)
{
    return cJSON_IsString(v) ? strlen(v->valuestring) : 0;
}

/* 1 and *i set when v is a number with an integral value that a double holds exactly
 * (cJSON keeps every number as a double: 1302 and 1302.0 both read as 1302); else 0. */
static int jint(const cJSON *v, long long *i)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0) return 0;
    *i = (long long)d;
    return 1;
}

static int jnonempty(const cJSON *v)
{
    return v != NULL && v->child != NULL;
}

/* Parses [p, p+n) as exactly one JSON text; NULL when it is not one (bad syntax, nesting
 * deeper than cJSON's 1000 levels, trailing bytes, an embedded NUL). Caller deletes. */
static cJSON *jparse(const char *p, size_t n, tx__cjson_delete_fn del)
{
    if (n == 0 || memchr(p, '\0', n) != NULL) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    if (root == NULL) return NULL;
    size_t used = (size_t)(end - p);
    while (used < n && (p[used] == ' ' || p[used] == '\t' || p[used] == '\r' || p[used] == '\n'))
        used++;
    if (used != n) {
        del(root);
        return NULL;
    }
    return root;
}

static void init(tx_classification_t *out, int status)
{
    out->cls = TX_CLASS_OK;
    out->status = status;
    out->code[0] = '\0';
    out->message[0] = '\0';
    out->retry_after_ms = -1;
    out->prompt_tokens = out->completion_tokens = out->total_tokens = -1;
    out->output = 0;
    out->error_shape = TX_ERROR_SHAPE_NONE;
}

/* A usage count: a non-negative integer, else -1. */
static int64_t usage_count(const cJSON *v)
{
    long long i;
    return jint(v, &i) && i >= 0 ? (int64_t)i : -1;
}

/* The three counts of a usage object, its members found in one walk (the first of each name,
 * as jget would find it). */
static void read_usage(const cJSON *usage, tx_classification_t *out)
{
    const cJSON *p = NULL, *c = NULL, *t = NULL;
    for (const cJSON *m = usage->child; m != NULL && m->string != NULL; m = m->next) {
        const char *k = m->string;
        if (k[0] == 'p' && p == NULL && strcmp(k, "prompt_tokens") == 0)
            p = m;
        else if (k[0] == 'c' && c == NULL && strcmp(k, "completion_tokens") == 0)
            c = m;
        else if (k[0] == 'i' && p == NULL && strcmp(k, "input_tokens") == 0)
            p = m; /* Responses */
        else if (k[0] == 'o' && c == NULL && strcmp(k, "output_tokens") == 0)
            c = m;
        else if (k[0] == 't' && t == NULL && strcmp(k, "total_tokens") == 0)
            t = m;
    }
    out->prompt_tokens = usage_count(p);
    out->completion_tokens = usage_count(c);
    out->total_tokens = usage_count(t);
}

static void set_msg(tx_classification_t *out, const char *s)
{
    tx__utf8_copy(out->message, sizeof out->message, s, s ? strlen(s) : 0);
}

static void set_code(tx_classification_t *out, const char *s)
{
    tx__utf8_copy(out->code, sizeof out->code, s, s ? strlen(s) : 0);
}

/* Case-insensitive substring search; needle is lower-case ASCII. */
static int contains(const char *hay, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    if (hay == NULL || len < nl) return 0;
    for (size_t i = 0; i + nl <= len; i++) {
        if (tolower((unsigned char)hay[i]) != needle[0]) continue;
        if (strncasecmp(hay + i, needle, nl) == 0) return 1;
    }
    return 0;
}

/* Z.AI business codes (docs/classifier.md, docs/providers.md); -1 when not one. */
static int zai_class(long c)
{
    if (c >= 1000 && c <= 1004) return TX_CLASS_AUTH;
    if ((c >= 1110 && c <= 1112) || c == 1121) return TX_CLASS_AUTH;
    if (c == 1113) return TX_CLASS_QUOTA;
    if (c == 1210 || (c >= 1213 && c <= 1215)) return TX_CLASS_BAD_REQUEST;
    if (c == 1211) return TX_CLASS_MODEL_UNAVAILABLE;
    if (c == 1220) return TX_CLASS_AUTH;
    if (c == 1221 || c == 1222) return TX_CLASS_MODEL_UNAVAILABLE;
    if (c == 1234) return TX_CLASS_SERVER;
    if (c == 1301) return TX_CLASS_CONTENT_FILTER;
    if (c == 1302) return TX_CLASS_CONCURRENCY;
    if (c == 1303) return TX_CLASS_RATE_LIMIT;
    if (c >= 1308 && c <= 1310) return TX_CLASS_QUOTA;
    return -1;
}

static const struct {
    const char *name;
    tx_class_t cls;
} code_table[] = {
    {"insufficient_quota", TX_CLASS_QUOTA},
    {"billing_hard_limit_reached", TX_CLASS_QUOTA},
    {"billing_not_active", TX_CLASS_QUOTA},
    {"insufficient_balance", TX_CLASS_QUOTA},
    {"payment_required", TX_CLASS_QUOTA},
    {"invalid_api_key", TX_CLASS_AUTH},
    {"invalid_authentication", TX_CLASS_AUTH},
    {"authentication_error", TX_CLASS_AUTH},
    {"permission_error", TX_CLASS_AUTH},
    {"permission_denied", TX_CLASS_AUTH},
    {"unauthorized", TX_CLASS_AUTH},
    {"account_deactivated", TX_CLASS_AUTH},
    {"unsupported_country_region_territory", TX_CLASS_AUTH},
    {"context_length_exceeded", TX_CLASS_CONTEXT_LENGTH},
    {"context_window_exceeded", TX_CLASS_CONTEXT_LENGTH},
    {"model_not_found", TX_CLASS_MODEL_UNAVAILABLE},
    {"model_not_available", TX_CLASS_MODEL_UNAVAILABLE},
    {"deploymentnotfound", TX_CLASS_MODEL_UNAVAILABLE},
    {"content_filter", TX_CLASS_CONTENT_FILTER},
    {"content_policy_violation", TX_CLASS_CONTENT_FILTER},
    {"responsibleaipolicyviolation", TX_CLASS_CONTENT_FILTER},
    {"rate_limit_exceeded", TX_CLASS_RATE_LIMIT},
    {"rate_limit_error", TX_CLASS_RATE_LIMIT},
    {"too_many_requests", TX_CLASS_RATE_LIMIT},
    {"overloaded_error", TX_CLASS_SERVER},
    {"overloaded", TX_CLASS_SERVER},
    {"server_error", TX_CLASS_SERVER},
    {"api_error", TX_CLASS_SERVER},
    {"internal_error", TX_CLASS_SERVER},
    {"service_unavailable", TX_CLASS_SERVER},
};

/* Class named by a provider code or type given as a JSON string or number; -1 when unknown.
 * Numbers (or numeric strings) in 1000..1999 are Z.AI business codes. */
static int code_class(const cJSON *v)
{
    long long i;
    if (jint(v, &i)) return zai_class((long)i);
    if (!cJSON_IsString(v)) return -1;
    const char *s = jstr(v);
    size_t n = jlen(v);
    if (n >= 4 && n <= 5) {
        char *end;
        long c = strtol(s, &end, 10);
        if (*end == '\0' && end != s) return zai_class(c);
    }
    for (size_t i = 0; i < sizeof code_table / sizeof code_table[0]; i++)
        if (strcasecmp(s, code_table[i].name) == 0) return (int)code_table[i].cls;
    return -1;
}

/* An HTTP-like status given as an error code (OpenRouter); 0 when not one. */
static int code_status(const cJSON *v)
{
    long c = 0;
    long long i;
    if (jint(v, &i)) {
        c = (i >= 100 && i <= 599) ? (long)i : 0;
    } else if (cJSON_IsString(v) && jlen(v) == 3) {
        char *end;
        c = strtol(jstr(v), &end, 10);
        if (*end != '\0') c = 0;
    }
    return (c >= 100 && c <= 599) ? (int)c : 0;
}

/* Keyword rules (docs/classifier.md) for 4xx answers and errors inside a 200; -1 when none matches.
 */
static int keyword_class(const char *m, size_t n)
{
    if (contains(m, n, "concurrency")) return TX_CLASS_CONCURRENCY;
    if (contains(m, n, "quota") || contains(m, n, "billing") ||
        contains(m, n, "insufficient credits") || contains(m, n, "credit balance") ||
        contains(m, n, "insufficient balance"))
        return TX_CLASS_QUOTA;
    if (contains(m, n, "content policy") || contains(m, n, "content management policy") ||
        contains(m, n, "content_filter") || contains(m, n, "safety system") ||
        contains(m, n, "flagged"))
        return TX_CLASS_CONTENT_FILTER;
    if (contains(m, n, "context length") || contains(m, n, "maximum context") ||
        contains(m, n, "context window") || contains(m, n, "prompt is too long"))
        return TX_CLASS_CONTEXT_LENGTH;
    if (contains(m, n, "no endpoints found") || contains(m, n, "model not found") ||
        contains(m, n, "model_not_found") || contains(m, n, "does not exist") ||
        contains(m, n, "not a valid model"))
        return TX_CLASS_MODEL_UNAVAILABLE;
    return -1;
}

static tx_class_t status_class(int s)
{
    if (s == 401 || s == 403) return TX_CLASS_AUTH;
    if (s == 402) return TX_CLASS_QUOTA;
    if (s == 404) return TX_CLASS_MODEL_UNAVAILABLE;
    if (s == 408) return TX_CLASS_TIMEOUT;
    if (s == 429) return TX_CLASS_RATE_LIMIT;
    if (s == 502 || s == 504) return TX_CLASS_GATEWAY;
    if (s >= 500 && s <= 599) return TX_CLASS_SERVER;
    if (s >= 400 && s <= 499) return TX_CLASS_BAD_REQUEST;
    return TX_CLASS_INVALID_RESPONSE;
}

/* The error part of a body, whatever the provider calls it. */
typedef struct {
    const cJSON *code;  /* error.code, or top-level code */
    const cJSON *type;  /* error.type */
    const cJSON *inner; /* error.innererror.code (Azure) */
    const char *msg;
    size_t msg_len;
    const char *raw; /* error.metadata.raw (OpenRouter), scanned for keywords */
    size_t raw_len;
} err_info_t;

/* The top-level members every body is asked for, found in one walk over the object: each the
 * first member of its name, as jget would find it. All NULL when root is not an object. */
typedef struct {
    const cJSON *error, *choices, *data, *usage;
} top_t;

static void top_members(const cJSON *root, top_t *t)
{
    memset(t, 0, sizeof *t);
    if (!cJSON_IsObject(root)) return;
    for (const cJSON *m = root->child; m != NULL && m->string != NULL; m = m->next) {
        const char *k = m->string;
        const cJSON **slot = NULL;
        switch (k[0]) {
        case 'e':
            slot = strcmp(k, "error") == 0 ? &t->error : NULL;
            break;
        case 'c':
            slot = strcmp(k, "choices") == 0 ? &t->choices : NULL;
            break;
        case 'd':
            slot = strcmp(k, "data") == 0 ? &t->data : NULL;
            break;
        case 'u':
            slot = strcmp(k, "usage") == 0 ? &t->usage : NULL;
            break;
        default:
            break;
        }
        if (slot != NULL && *slot == NULL) *slot = m;
    }
}

/* Fills e from root (its members in t); returns 1 when the body carries an error. */
static int find_error(const cJSON *root, const top_t *t, err_info_t *e, tx_classification_t *out)
{
    memset(e, 0, sizeof *e);
    if (!cJSON_IsObject(root)) return 0;
    const cJSON *err = t->error;
    const cJSON *msg = NULL;
    if (cJSON_IsObject(err) && jnonempty(err)) {
        e->code = jget(err, "code");
        e->type = jget(err, "type");
        const cJSON *ie = jget(err, "innererror");
        if (cJSON_IsObject(ie)) e->inner = jget(ie, "code");
        msg = jget(err, "message");
        const cJSON *md = jget(err, "metadata");
        const cJSON *raw = cJSON_IsObject(md) ? jget(md, "raw") : NULL;
        if (cJSON_IsString(raw)) {
            e->raw = jstr(raw);
            e->raw_len = jlen(raw);
        }
    } else if (cJSON_IsString(err) && jlen(err) > 0) {
        msg = err;
    } else if (err == NULL && t->choices == NULL && t->data == NULL &&
               (jget(root, "code") || jget(root, "msg"))) {
        /* {"code":1302,"msg":"…"} as some gateways answer */
        e->code = jget(root, "code");
        msg = jget(root, "msg");
        if (msg == NULL) msg = jget(root, "message");
        long long c0;
        if (jint(e->code, &c0) && c0 == 0) return 0;
        if (cJSON_IsBool(jget(root, "success")) && cJSON_IsTrue(jget(root, "success"))) return 0;
    } else {
        return 0;
    }
    if (cJSON_IsObject(msg) && cJSON_IsString(jget(msg, "message"))) msg = jget(msg, "message");
    if (cJSON_IsString(msg)) {
        e->msg = jstr(msg);
        e->msg_len = jlen(msg);
        tx__utf8_copy(out->message, sizeof out->message, e->msg, e->msg_len);
    } else if (msg != NULL && !cJSON_IsNull(msg)) {
        char *d = cJSON_PrintUnformatted(msg);
        if (d != NULL) {
            set_msg(out, d);
            cJSON_free(d);
        }
        e->msg = out->message;
        e->msg_len = strlen(out->message);
    }
    long long ci;
    if (cJSON_IsString(e->code)) {
        set_code(out, jstr(e->code));
    } else if (jint(e->code, &ci)) {
        snprintf(out->code, sizeof out->code, "%lld", ci);
    } else if (cJSON_IsString(e->type)) {
        set_code(out, jstr(e->type));
    }
    return 1;
}

/* Class of an error body. status is the outer HTTP status (2xx for an error inside a 200). */
static tx_class_t error_class(int status, const err_info_t *e)
{
    int c = code_class(e->code);
    if (c < 0) c = code_class(e->inner);
    if (c < 0) c = code_class(e->type);
    if (c >= 0) return (tx_class_t)c;
    int in200 = status >= 200 && status <= 299;
    int st = status;
    if (in200) {
        st = code_status(e->code);
        if (st >= 500) return TX_CLASS_GATEWAY;
    }
    if (st == 0 || (st >= 400 && st <= 499)) {
        c = keyword_class(e->msg, e->msg_len);
        if (c < 0) c = keyword_class(e->raw, e->raw_len);
        if (c >= 0) return (tx_class_t)c;
    }
    if (st == 0) return TX_CLASS_GATEWAY; /* an unexplained error inside a 200 */
    return status_class(st);
}

static tx_class_t invalid(tx_classification_t *out, const char *why)
{
    out->cls = TX_CLASS_INVALID_RESPONSE;
    set_msg(out, why);
    return out->cls;
}

static int filtered(const cJSON *choice)
{
    const cJSON *fr = jget(choice, "finish_reason");
    return cJSON_IsString(fr) && strcmp(jstr(fr), "content_filter") == 0;
}

/* A Responses object without a top-level error: `status` failed (its error, else server) or
 * incomplete (content_filter, else invalid_response) is a failed attempt; otherwise it needs an
 * `output` array. */
static tx_class_t responses_state(const cJSON *resp, tx_classification_t *out)
{
    const char *st = jstr(jget(resp, "status"));
    if (st != NULL && strcmp(st, "failed") == 0) {
        const cJSON *err = jget(resp, "error");
        top_t t = {err, NULL, NULL, NULL};
        err_info_t e;
        if (cJSON_IsObject(err) && find_error(resp, &t, &e, out)) {
            out->cls = error_class(200, &e);
            if (out->cls == TX_CLASS_OK || out->cls == TX_CLASS_BAD_REQUEST)
                out->cls = TX_CLASS_SERVER;
        } else {
            out->cls = TX_CLASS_SERVER;
            set_msg(out, "the response has status failed");
        }
        return out->cls;
    }
    if (st != NULL && strcmp(st, "incomplete") == 0) {
        const char *why = jstr(jget(jget(resp, "incomplete_details"), "reason"));
        if (why != NULL && strcmp(why, "content_filter") == 0) {
            out->cls = TX_CLASS_CONTENT_FILTER;
            set_code(out, "content_filter");
            set_msg(out, "the response is incomplete: content_filter");
            return out->cls;
        }
        char m[160];
        snprintf(m, sizeof m, "the response is incomplete: %s", why != NULL ? why : "no reason");
        set_code(out, "incomplete");
        return invalid(out, m);
    }
    if (!cJSON_IsArray(jget(resp, "output"))) return invalid(out, "no output in the response");
    return TX_CLASS_OK;
}

/* Shape checks of a 2xx body without an error (invalid_response, docs/classifier.md). */
static tx_class_t check_success(const cJSON *root, const top_t *t, tx_resp_kind_t kind,
                                tx_classification_t *out)
{
    if (!cJSON_IsObject(root)) return invalid(out, "response is not a JSON object");
    if (kind == TX_RESP_ANY) return TX_CLASS_OK;
    if (kind == TX_RESP_RESPONSES) return responses_state(root, out);
    if (kind == TX_RESP_EMBEDDING) {
        const cJSON *d = t->data;
        if (!cJSON_IsArray(d)) return invalid(out, "no data in the response");
        if (!jnonempty(d)) return invalid(out, "empty data in the response");
        return TX_CLASS_OK;
    }
    const cJSON *ch = t->choices;
    if (!cJSON_IsArray(ch)) return invalid(out, "no choices in the response");
    if (!jnonempty(ch)) return invalid(out, "empty choices in the response");
    const cJSON *c0 = ch->child;
    if (!cJSON_IsObject(c0)) return invalid(out, "choices[0] is not an object");
    if (filtered(c0)) {
        out->cls = TX_CLASS_CONTENT_FILTER;
        set_code(out, "content_filter");
        set_msg(out, "finish_reason is content_filter");
        return out->cls;
    }
    if (kind == TX_RESP_COMPLETION) {
        const cJSON *t = jget(c0, "text");
        if (!cJSON_IsString(t)) return invalid(out, "choices[0].text is not a string");
        if (jlen(t) == 0) return invalid(out, "choices[0].text is empty");
        return TX_CLASS_OK;
    }
    const cJSON *m = jget(c0, "message");
    if (!cJSON_IsObject(m)) return invalid(out, "choices[0].message is missing");
    const cJSON *content = jget(m, "content");
    const cJSON *tools = jget(m, "tool_calls");
    int has_tools = cJSON_IsArray(tools) && jnonempty(tools);
    if (cJSON_IsString(content) && jlen(content) > 0) return TX_CLASS_OK;
    if ((content == NULL || cJSON_IsNull(content) || cJSON_IsString(content)) && has_tools)
        return TX_CLASS_OK;
    if (content != NULL && !cJSON_IsNull(content) && !cJSON_IsString(content))
        return invalid(out, "choices[0].message.content is not a string");
    return invalid(out, "choices[0].message.content is empty and there are no tool_calls");
}

static void wait_from_message(tx_classification_t *out)
{
    if (out->retry_after_ms >= 0) return;
    if (out->status != 429 && out->cls != TX_CLASS_RATE_LIMIT && out->cls != TX_CLASS_CONCURRENCY)
        return;
    out->retry_after_ms = tx_retry_after_from_message(out->message, strlen(out->message));
}

tx_class_t tx__classify_response_tree(int status, const tx_header_t *h, size_t nh, const char *body,
                                      size_t len, tx_resp_kind_t kind, tx_ms_t now_unix_ms,
                                      tx_classification_t *out, tx__cjson_delete_fn del)
{
    if (out == NULL) return TX_CLASS_INVALID_RESPONSE;
    init(out, status);
    if (body == NULL) len = 0;
    out->retry_after_ms = tx_retry_after_effective(status, h, h ? nh : 0, now_unix_ms);
    int ok_status = status >= 200 && status <= 299;
    if (status < 100 || status > 599) {
        invalid(out, "invalid HTTP status");
        snprintf(out->code, sizeof out->code, "%d", status);
        return out->cls;
    }

    /* Fast path: a JSON text we accept starts with '{' or '[', so an HTML page or plain text
     * is never handed to the parser. */
    size_t skip = 0;
    while (skip < len &&
           (body[skip] == ' ' || body[skip] == '\t' || body[skip] == '\r' || body[skip] == '\n'))
        skip++;
    cJSON *root = NULL;
    if (skip < len && len <= MAX_BODY && (body[skip] == '{' || body[skip] == '['))
        root = jparse(body + skip, len - skip, del);

    top_t t;
    top_members(root, &t);
    if (cJSON_IsObject(t.error) && cJSON_IsString(jget(t.error, "message")))
        out->error_shape =
            jget(t.error, "type") != NULL ? TX_ERROR_SHAPE_OPENAI : TX_ERROR_SHAPE_NO_TYPE;
    err_info_t e;
    if (root != NULL && find_error(root, &t, &e, out)) {
        out->cls = error_class(status, &e);
        /* a generic server error body on a 502/504 is still the gateway class (docs/classifier.md)
         */
        if (out->cls == TX_CLASS_SERVER && (status == 502 || status == 504))
            out->cls = TX_CLASS_GATEWAY;
        if (out->code[0] == '\0' && !ok_status) snprintf(out->code, sizeof out->code, "%d", status);
    } else if (ok_status) {
        if (len == 0) {
            invalid(out, "empty body");
        } else if (root == NULL) {
            if (len > MAX_BODY)
                invalid(out, "body too large");
            else
                invalid(out, "body is not JSON");
        } else {
            out->cls = check_success(root, &t, kind, out);
            const cJSON *u = t.usage;
            if (out->cls == TX_CLASS_OK && cJSON_IsObject(u)) {
                read_usage(u, out);
            }
        }
    } else {
        out->cls = status_class(status);
        snprintf(out->code, sizeof out->code, "%d", status);
        /* Not JSON (an HTML page from a proxy, plain text): keep its start as the message,
         * and let a 4xx plain-text message still name concurrency, quota, and so on. */
        if (root == NULL && len > 0) {
            size_t n = len < 4096 ? len : 4096;
            tx__utf8_copy(out->message, sizeof out->message, body, n);
            if (status >= 400 && status <= 499) {
                int c = keyword_class(body, n);
                if (c >= 0) out->cls = (tx_class_t)c;
            }
        } else if (root != NULL) {
            /* JSON without an error object: {"message":…} (API gateways), {"detail":…}
             * (FastAPI) */
            const cJSON *m = jget(root, "message");
            if (!cJSON_IsString(m)) m = jget(root, "detail");
            if (cJSON_IsString(m)) {
                tx__utf8_copy(out->message, sizeof out->message, jstr(m), jlen(m));
                int c = status >= 400 && status <= 499 ? keyword_class(jstr(m), jlen(m)) : -1;
                if (c >= 0) out->cls = (tx_class_t)c;
            }
        }
        if (out->message[0] == '\0') snprintf(out->message, sizeof out->message, "HTTP %d", status);
    }
    del(root);
    wait_from_message(out);
    return out->cls;
}

/* ---- the fast path: a plain 2xx success body, one pass with the scanner, no tree ----------

 * It decides only bodies without an error member (nor top-level `code`/`msg`), with no escape in
 * a key or string it compares, and usage counts that are plain integers; anything else (and any
 * text the strict scanner refuses) returns 0 and the tree path above decides, so every other
 * case keeps its one implementation. Members are the first of their name, as jget finds them. */

/* What the walk found; a type is TX_JSON_NONE when the member is absent. */
typedef struct {
    tx_json_type_t choices, c0, finish, text, message, content, tool_calls, data, usage, output;
    int nchoices, ndata, ntools, filtered, text_len, content_len;
    int seen_error, seen_finish, seen_text, seen_message, seen_content, seen_tools, seen_status;
    int64_t counts[3]; /* prompt (input), completion (output), total; -1 when not a count */
    int seen_count[3];
} skim_t;

/* A member's key, when it is one the walk compares: escapes make it undecidable here. */
#define KEY_IS(k, lit) tx__json_is(k, lit)

/* The first element of an array just entered (`*n` 1 when there is one, *first its value, left
 * for the caller to walk or skip); the rest of the array is for skip_rest. */
static int first_element(tx_json_scan_t *sc, tx_json_val_t *first, int *n)
{
    int r = tx__json_element(sc, first);
    *n = r == 1;
    return r < 0 ? -1 : 0;
}

/* usage: its counts, each the first member of its name (prompt_tokens or input_tokens, and so
 * on, as read_usage takes them). 0, or -1 to fall back. */
static int skim_usage(tx_json_scan_t *sc, skim_t *k)
{
    tx_json_val_t key, v;
    int r;
    while ((r = tx__json_member(sc, &key, &v)) == 1) {
        if (key.esc) return -1;
        int slot = -1;
        if (KEY_IS(&key, "prompt_tokens") || KEY_IS(&key, "input_tokens"))
            slot = 0;
        else if (KEY_IS(&key, "completion_tokens") || KEY_IS(&key, "output_tokens"))
            slot = 1;
        else if (KEY_IS(&key, "total_tokens"))
            slot = 2;
        if (slot >= 0 && !k->seen_count[slot]) {
            k->seen_count[slot] = 1;
            if (v.type == TX_JSON_NUMBER && !tx__json_uint(v.p, v.n, &k->counts[slot]))
                return -1; /* "-0", "1.0", "1e3", huge: the tree path's arithmetic decides */
        }
        if (tx__json_skip(sc, &v) != 0) return -1;
    }
    return r;
}

/* choices[0].message: content and tool_calls. */
static int skim_message(tx_json_scan_t *sc, skim_t *k)
{
    tx_json_val_t key, v;
    int r;
    while ((r = tx__json_member(sc, &key, &v)) == 1) {
        if (key.esc) return -1;
        if (!k->seen_content && KEY_IS(&key, "content")) {
            k->seen_content = 1;
            k->content = v.type;
            k->content_len = v.type == TX_JSON_STRING && v.n > 0;
        } else if (!k->seen_tools && KEY_IS(&key, "tool_calls")) {
            k->seen_tools = 1;
            k->tool_calls = v.type;
            if (v.type == TX_JSON_ARRAY) {
                tx_json_val_t e;
                if (first_element(sc, &e, &k->ntools) != 0) return -1;
                if (k->ntools && tx__json_skip(sc, &e) != 0) return -1;
                if (k->ntools && tx__json_skip_rest(sc) != 0) return -1;
                continue;
            }
        }
        if (tx__json_skip(sc, &v) != 0) return -1;
    }
    return r;
}

/* choices[0]: finish_reason, text, message. */
static int skim_choice(tx_json_scan_t *sc, skim_t *k)
{
    tx_json_val_t key, v;
    int r;
    while ((r = tx__json_member(sc, &key, &v)) == 1) {
        if (key.esc) return -1;
        if (!k->seen_finish && KEY_IS(&key, "finish_reason")) {
            k->seen_finish = 1;
            if (v.type == TX_JSON_STRING && v.esc) return -1;
            k->filtered = v.type == TX_JSON_STRING && tx__json_is(&v, "content_filter");
        } else if (!k->seen_text && KEY_IS(&key, "text")) {
            k->seen_text = 1;
            k->text = v.type;
            k->text_len = v.type == TX_JSON_STRING && v.n > 0;
        } else if (!k->seen_message && KEY_IS(&key, "message")) {
            k->seen_message = 1;
            k->message = v.type;
            if (v.type == TX_JSON_OBJECT) {
                if (skim_message(sc, k) != 0) return -1;
                continue;
            }
        }
        if (tx__json_skip(sc, &v) != 0) return -1;
    }
    return r;
}

/* The top level. 0, or -1 to fall back. */
static int skim_top(tx_json_scan_t *sc, tx_resp_kind_t kind, skim_t *k)
{
    tx_json_val_t key, v;
    int seen_choices = 0, seen_data = 0, seen_usage = 0, seen_output = 0, r;
    int chat = kind == TX_RESP_CHAT || kind == TX_RESP_COMPLETION;
    while ((r = tx__json_member(sc, &key, &v)) == 1) {
        if (key.esc) return -1; /* it might spell "error" */
        switch (key.n > 0 ? key.p[0] : 0) {
        case 'e':
            if (KEY_IS(&key, "error") && !k->seen_error) {
                k->seen_error = 1;
                if (v.type != TX_JSON_NULL) return -1; /* an error or its shape: the tree's */
            }
            break;
        case 'c':
            if (KEY_IS(&key, "code")) return -1; /* {"code":1302,"msg":…} */
            if (chat && !seen_choices && KEY_IS(&key, "choices")) {
                seen_choices = 1;
                k->choices = v.type;
                if (v.type != TX_JSON_ARRAY) break;
                tx_json_val_t c0;
                if (first_element(sc, &c0, &k->nchoices) != 0) return -1;
                if (k->nchoices == 0) continue; /* the array ended */
                k->c0 = c0.type;
                if (c0.type == TX_JSON_OBJECT ? skim_choice(sc, k) : tx__json_skip(sc, &c0))
                    return -1;
                if (tx__json_skip_rest(sc) != 0) return -1;
                continue;
            }
            break;
        case 'm':
            if (KEY_IS(&key, "msg")) return -1;
            break;
        case 'd':
            if (kind == TX_RESP_EMBEDDING && !seen_data && KEY_IS(&key, "data")) {
                seen_data = 1;
                k->data = v.type;
                if (v.type != TX_JSON_ARRAY) break;
                tx_json_val_t e;
                if (first_element(sc, &e, &k->ndata) != 0) return -1;
                if (k->ndata && (tx__json_skip(sc, &e) != 0 || tx__json_skip_rest(sc) != 0))
                    return -1;
                continue;
            }
            break;
        case 'u':
            if (!seen_usage && KEY_IS(&key, "usage")) {
                seen_usage = 1;
                k->usage = v.type;
                if (v.type == TX_JSON_OBJECT) {
                    if (skim_usage(sc, k) != 0) return -1;
                    continue;
                }
            }
            break;
        case 's':
            if (kind == TX_RESP_RESPONSES && !k->seen_status && KEY_IS(&key, "status")) {
                k->seen_status = 1;
                if (v.type == TX_JSON_STRING &&
                    (v.esc || tx__json_is(&v, "failed") || tx__json_is(&v, "incomplete")))
                    return -1; /* a failed or incomplete response: the tree's */
            }
            break;
        case 'o':
            if (kind == TX_RESP_RESPONSES && !seen_output && KEY_IS(&key, "output")) {
                seen_output = 1;
                k->output = v.type;
            }
            break;
        default:
            break;
        }
        if (tx__json_skip(sc, &v) != 0) return -1;
    }
    return r;
}

int tx__classify_skim(const char *body, size_t len, tx_resp_kind_t kind, tx_classification_t *out)
{
    if (kind != TX_RESP_CHAT && kind != TX_RESP_COMPLETION && kind != TX_RESP_EMBEDDING &&
        kind != TX_RESP_RESPONSES && kind != TX_RESP_ANY)
        return 0;
    if (len == 0 || len > MAX_BODY) return 0;
    tx_json_scan_t sc;
    tx_json_val_t v;
    skim_t k;
    memset(&k, 0, sizeof k);
    k.counts[0] = k.counts[1] = k.counts[2] = -1;
    tx__json_scan_init(&sc, body, len);
    if (tx__json_value(&sc, &v) != 0 || v.type != TX_JSON_OBJECT) return 0;
    if (skim_top(&sc, kind, &k) != 0 || tx__json_finish(&sc) != 0) return 0;

    /* decided from here on: *out is written in place */
    tx_classification_t *r = out;
    const char *why = NULL;
    if (kind == TX_RESP_CHAT || kind == TX_RESP_COMPLETION) {
        if (k.choices != TX_JSON_ARRAY)
            why = "no choices in the response";
        else if (k.nchoices == 0)
            why = "empty choices in the response";
        else if (k.c0 != TX_JSON_OBJECT)
            why = "choices[0] is not an object";
        else if (k.filtered) {
            r->cls = TX_CLASS_CONTENT_FILTER;
            set_code(r, "content_filter");
            set_msg(r, "finish_reason is content_filter");
        } else if (kind == TX_RESP_COMPLETION) {
            if (k.text != TX_JSON_STRING)
                why = "choices[0].text is not a string";
            else if (!k.text_len)
                why = "choices[0].text is empty";
        } else if (k.message != TX_JSON_OBJECT) {
            why = "choices[0].message is missing";
        } else {
            int has_tools = k.tool_calls == TX_JSON_ARRAY && k.ntools > 0;
            int str = k.content == TX_JSON_STRING;
            if (str && k.content_len) {
                /* ok */
            } else if ((k.content == TX_JSON_NONE || k.content == TX_JSON_NULL || str) &&
                       has_tools) {
                /* ok */
            } else if (k.content != TX_JSON_NONE && k.content != TX_JSON_NULL && !str) {
                why = "choices[0].message.content is not a string";
            } else {
                why = "choices[0].message.content is empty and there are no tool_calls";
            }
        }
    } else if (kind == TX_RESP_EMBEDDING) {
        if (k.data != TX_JSON_ARRAY)
            why = "no data in the response";
        else if (k.ndata == 0)
            why = "empty data in the response";
    } else if (kind == TX_RESP_RESPONSES && k.output != TX_JSON_ARRAY) {
        why = "no output in the response";
    }
    if (why != NULL) invalid(r, why);
    if (r->cls == TX_CLASS_OK && k.usage == TX_JSON_OBJECT) {
        r->prompt_tokens = k.counts[0];
        r->completion_tokens = k.counts[1];
        r->total_tokens = k.counts[2];
    }
    return 1;
}

tx_class_t tx__classify_response_with(int status, const tx_header_t *h, size_t nh, const char *body,
                                      size_t len, tx_resp_kind_t kind, tx_ms_t now_unix_ms,
                                      tx_classification_t *out, tx__cjson_delete_fn del)
{
    if (out == NULL) return TX_CLASS_INVALID_RESPONSE;
    if (status >= 200 && status <= 299 && body != NULL) {
        size_t skip = 0;
        while (skip < len && (body[skip] == ' ' || body[skip] == '\t' || body[skip] == '\r' ||
                              body[skip] == '\n'))
            skip++;
        if (skip < len && body[skip] == '{') {
            init(out, status);
            out->retry_after_ms = tx_retry_after_effective(status, h, h ? nh : 0, now_unix_ms);
            if (tx__classify_skim(body, len, kind, out)) {
                wait_from_message(out);
                return out->cls;
            }
        }
    }
    return tx__classify_response_tree(status, h, nh, body, len, kind, now_unix_ms, out, del);
}

tx_class_t tx_classify_transport(tx_transport_t what, const char *detail, tx_classification_t *out)
{
    static const char *const names[] = {"connect", "reset",   "dns",    "tls",
                                        "partial", "timeout", "aborted"};
    if (out == NULL) return TX_CLASS_NETWORK;
    init(out, 0);
    if ((unsigned)what > TX_TRANSPORT_ABORTED) what = TX_TRANSPORT_RESET;
    out->cls = what == TX_TRANSPORT_TIMEOUT   ? TX_CLASS_TIMEOUT
               : what == TX_TRANSPORT_ABORTED ? TX_CLASS_ABORTED
                                              : TX_CLASS_NETWORK;
    set_code(out, names[what]);
    set_msg(out, detail != NULL ? detail : names[what]);
    return out->cls;
}

tx_class_t tx__classify_stream_event_tree(const char *data, size_t len, tx_classification_t *out,
                                          tx__cjson_delete_fn del)
{
    if (out == NULL) return TX_CLASS_INVALID_RESPONSE;
    init(out, 0);
    if (data == NULL) len = 0;
    while (len > 0 && isspace((unsigned char)*data)) {
        data++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)data[len - 1]))
        len--;
    if (len == 0) return invalid(out, "empty event");
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) return TX_CLASS_OK;
    cJSON *root = len <= MAX_BODY ? jparse(data, len, del) : NULL;
    if (root == NULL) {
        return invalid(out, "event is not JSON");
    }
    top_t t;
    top_members(root, &t);
    err_info_t e;
    const char *type = cJSON_IsObject(root) ? jstr(jget(root, "type")) : NULL;
    const cJSON *resp = type != NULL ? jget(root, "response") : NULL;
    if (type != NULL && strncmp(type, "response.", 9) == 0 && cJSON_IsObject(resp)) {
        /* Responses lifecycle events carry the response object */
        if (strcmp(type, "response.failed") == 0 || strcmp(type, "response.incomplete") == 0 ||
            strcmp(type, "response.completed") == 0) {
            top_t rt;
            top_members(resp, &rt);
            if (find_error(resp, &rt, &e, out)) {
                out->cls = error_class(200, &e);
                if (out->cls == TX_CLASS_OK || out->cls == TX_CLASS_BAD_REQUEST)
                    out->cls = TX_CLASS_SERVER;
            } else {
                out->cls = responses_state(resp, out);
            }
            if (strcmp(type, "response.completed") == 0) {
                out->output = 1;
                if (out->cls == TX_CLASS_OK && cJSON_IsObject(rt.usage)) read_usage(rt.usage, out);
            }
        }
    } else if (type != NULL && strncmp(type, "response.", 9) == 0) {
        /* output deltas and items; created / in_progress / *.added carry none yet */
        out->output = strstr(type, ".delta") != NULL || strstr(type, ".done") != NULL;
    } else if (find_error(root, &t, &e, out)) {
        out->cls = error_class(200, &e);
    } else {
        const cJSON *ch = t.choices;
        const cJSON *c0 = cJSON_IsArray(ch) ? ch->child : NULL;
        if (cJSON_IsObject(c0) && filtered(c0)) {
            out->cls = TX_CLASS_CONTENT_FILTER;
            set_code(out, "content_filter");
            set_msg(out, "finish_reason is content_filter");
        } else if (!cJSON_IsObject(root)) {
            invalid(out, "event is not a JSON object");
        } else {
            if (cJSON_IsObject(c0)) {
                const cJSON *d = jget(c0, "delta");
                const cJSON *ct = jget(d, "content");
                out->output =
                    (cJSON_IsString(ct) && jlen(ct) > 0) || jnonempty(jget(d, "tool_calls")) ||
                    cJSON_IsString(jget(d, "refusal")) ||
                    cJSON_IsString(jget(c0, "finish_reason")) || cJSON_IsString(jget(c0, "text"));
            } else if (!cJSON_IsArray(ch) && t.usage == NULL) {
                out->output = 1; /* not a chat chunk: nothing to hold back for */
            }
            if (cJSON_IsObject(t.usage)) read_usage(t.usage, out);
        }
    }
    del(root);
    if (out->cls == TX_CLASS_RATE_LIMIT || out->cls == TX_CLASS_CONCURRENCY)
        out->retry_after_ms = tx_retry_after_from_message(out->message, strlen(out->message));
    return out->cls;
}

/* ---- the fast path for a stream event: a plain chat chunk, one pass, no tree -------------

 * It decides an object without `type`, `code`, `msg` or a non-null `error` at the top, with no
 * escape in a key it compares nor in finish_reason, and usage counts that are plain integers;
 * anything else goes to the tree path of tx__classify_stream_event_tree. */

typedef struct {
    int choices_array, c0_object, filtered, finish_str, text_str, content, tools, refusal;
    int seen_error, seen_finish, seen_text, seen_delta, seen_content, seen_tools, seen_refusal;
    int usage_seen, usage_object;
    skim_t counts; /* only its usage fields */
} chunk_t;

/* A container's first member or element is there: 1, 0 when empty (it is left), -1. */
static int nonempty(tx_json_scan_t *sc, const tx_json_val_t *v)
{
    tx_json_val_t k, e;
    int r = v->type == TX_JSON_OBJECT ? tx__json_member(sc, &k, &e) : tx__json_element(sc, &e);
    if (r != 1) return r;
    return tx__json_skip(sc, &e) == 0 && tx__json_skip_rest(sc) == 0 ? 1 : -1;
}

static int chunk_delta(tx_json_scan_t *sc, chunk_t *k)
{
    tx_json_val_t key, v;
    int r;
    while ((r = tx__json_member(sc, &key, &v)) == 1) {
        if (key.esc) return -1;
        if (!k->seen_content && KEY_IS(&key, "content")) {
            k->seen_content = 1;
            k->content = v.type == TX_JSON_STRING && v.n > 0;
        } else if (!k->seen_tools && KEY_IS(&key, "tool_calls")) {
            k->seen_tools = 1;
            if (v.type == TX_JSON_OBJECT || v.type == TX_JSON_ARRAY) {
                int n = nonempty(sc, &v);
                if (n < 0) return -1;
                k->tools = n;
                continue;
            }
        } else if (!k->seen_refusal && KEY_IS(&key, "refusal")) {
            k->seen_refusal = 1;
            k->refusal = v.type == TX_JSON_STRING;
        }
        if (tx__json_skip(sc, &v) != 0) return -1;
    }
    return r;
}

static int chunk_choice(tx_json_scan_t *sc, chunk_t *k)
{
    tx_json_val_t key, v;
    int r;
    while ((r = tx__json_member(sc, &key, &v)) == 1) {
        if (key.esc) return -1;
        if (!k->seen_finish && KEY_IS(&key, "finish_reason")) {
            k->seen_finish = 1;
            if (v.type == TX_JSON_STRING && v.esc) return -1;
            k->finish_str = v.type == TX_JSON_STRING;
            k->filtered = k->finish_str && tx__json_is(&v, "content_filter");
        } else if (!k->seen_text && KEY_IS(&key, "text")) {
            k->seen_text = 1;
            k->text_str = v.type == TX_JSON_STRING;
        } else if (!k->seen_delta && KEY_IS(&key, "delta")) {
            k->seen_delta = 1;
            if (v.type == TX_JSON_OBJECT) {
                if (chunk_delta(sc, k) != 0) return -1;
                continue;
            }
        }
        if (tx__json_skip(sc, &v) != 0) return -1;
    }
    return r;
}

static int chunk_top(tx_json_scan_t *sc, chunk_t *k)
{
    tx_json_val_t key, v;
    int seen_choices = 0, r;
    while ((r = tx__json_member(sc, &key, &v)) == 1) {
        if (key.esc) return -1;
        if (KEY_IS(&key, "type") || KEY_IS(&key, "code") || KEY_IS(&key, "msg")) return -1;
        if (!k->seen_error && KEY_IS(&key, "error")) {
            k->seen_error = 1;
            if (v.type != TX_JSON_NULL) return -1;
        } else if (!seen_choices && KEY_IS(&key, "choices")) {
            seen_choices = 1;
            k->choices_array = v.type == TX_JSON_ARRAY;
            if (v.type == TX_JSON_ARRAY) {
                tx_json_val_t c0;
                int n;
                if (first_element(sc, &c0, &n) != 0) return -1;
                if (n == 0) continue;
                k->c0_object = c0.type == TX_JSON_OBJECT;
                if (k->c0_object ? chunk_choice(sc, k) : tx__json_skip(sc, &c0)) return -1;
                if (tx__json_skip_rest(sc) != 0) return -1;
                continue;
            }
        } else if (!k->usage_seen && KEY_IS(&key, "usage")) {
            k->usage_seen = 1;
            k->usage_object = v.type == TX_JSON_OBJECT;
            if (k->usage_object) {
                if (skim_usage(sc, &k->counts) != 0) return -1;
                continue;
            }
        }
        if (tx__json_skip(sc, &v) != 0) return -1;
    }
    return r;
}

int tx__classify_event_skim(const char *data, size_t len, tx_classification_t *out)
{
    if (data == NULL) return 0;
    while (len > 0 && isspace((unsigned char)*data)) { /* trimmed as the tree path trims */
        data++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)data[len - 1]))
        len--;
    if (len == 0 || len > MAX_BODY || data[0] != '{') return 0;
    tx_json_scan_t sc;
    tx_json_val_t v;
    chunk_t k;
    memset(&k, 0, sizeof k);
    k.counts.counts[0] = k.counts.counts[1] = k.counts.counts[2] = -1;
    tx__json_scan_init(&sc, data, len);
    if (tx__json_value(&sc, &v) != 0 || chunk_top(&sc, &k) != 0 || tx__json_finish(&sc) != 0)
        return 0;
    if (k.c0_object && k.filtered) {
        out->cls = TX_CLASS_CONTENT_FILTER;
        set_code(out, "content_filter");
        set_msg(out, "finish_reason is content_filter");
        return 1;
    }
    if (k.c0_object)
        out->output = k.content || k.tools || k.refusal || k.finish_str || k.text_str;
    else if (!k.choices_array && !k.usage_seen)
        out->output = 1;
    if (k.usage_object) {
        out->prompt_tokens = k.counts.counts[0];
        out->completion_tokens = k.counts.counts[1];
        out->total_tokens = k.counts.counts[2];
    }
    return 1;
}

tx_class_t tx__classify_stream_event_with(const char *data, size_t len, tx_classification_t *out,
                                          tx__cjson_delete_fn del)
{
    if (out == NULL) return TX_CLASS_INVALID_RESPONSE;
    init(out, 0);
    if (tx__classify_event_skim(data, len, out)) return out->cls;
    return tx__classify_stream_event_tree(data, len, out, del);
}

tx_class_t tx_classify_stream_event(const char *data, size_t len, tx_classification_t *out)
{
    return tx__classify_stream_event_with(data, len, out, cJSON_Delete);
}

tx_class_t tx_classify_response(int status, const tx_header_t *h, size_t nh, const char *body,
                                size_t len, tx_resp_kind_t kind, tx_ms_t now_unix_ms,
                                tx_classification_t *out)
{
    return tx__classify_response_with(status, h, nh, body, len, kind, now_unix_ms, out,
                                      cJSON_Delete);
}
