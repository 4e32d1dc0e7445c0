/* What the mock says: provider-shaped error bodies (docs/mock.md) and reply texts,
 * including the deterministic tags for a tagging prompt. */
#include "mock/replies.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static json_t *openai_error(const char *message, const char *type, const char *code)
{
    return json_pack("{s:{s:s,s:s,s:n,s:o}}", "error", "message", message, "type", type, "param",
                     "code", code ? json_string(code) : json_null());
}

json_t *tx__mock_error(tx_mock_kind_t k, const char *model, unsigned retry_after_s, int *status)
{
    char msg[512];
    switch (k) {
    case TX_MOCK_E500:
        *status = 500;
        return openai_error(
            "The server had an error while processing your request. Sorry about that!",
            "server_error", NULL);
    case TX_MOCK_E502:
        *status = 502;
        return openai_error("Bad gateway.", "server_error", "bad_gateway");
    case TX_MOCK_E503:
        *status = 503;
        return openai_error("The engine is currently overloaded, please try again later.",
                            "server_error", NULL);
    case TX_MOCK_E504:
        *status = 504;
        return openai_error("Gateway timeout: the upstream model did not answer in time.",
                            "server_error", "gateway_timeout");
    case TX_MOCK_E429:
        *status = 429;
        snprintf(msg, sizeof msg,
                 "Rate limit reached for %.100s in organization org-mock on requests per min "
                 "(RPM): Limit 3, Used 3, Requested 1. Please try again in %us.",
                 model, retry_after_s);
        return openai_error(msg, "requests", "rate_limit_exceeded");
    case TX_MOCK_E1302:
        *status = 429;
        return json_pack("{s:{s:s,s:s}}", "error", "code", "1302", "message",
                         "High concurrency usage of this API, please reduce concurrency or "
                         "contact customer service to increase limits");
    case TX_MOCK_QUOTA:
        *status = 429;
        return openai_error("You exceeded your current quota, please check your plan and billing "
                            "details. For more information on this error, read the docs: "
                            "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                            "insufficient_quota", "insufficient_quota");
    case TX_MOCK_E401:
        *status = 401;
        return openai_error("Incorrect API key provided: sk-mock****. You can find your API key "
                            "at https://platform.openai.com/account/api-keys.",
                            "invalid_request_error", "invalid_api_key");
    case TX_MOCK_E404:
        *status = 404;
        snprintf(msg, sizeof msg,
                 "The model `%.100s` does not exist or you do not have access to it.", model);
        return openai_error(msg, "invalid_request_error", "model_not_found");
    case TX_MOCK_ERR200:
        *status = 200;
        return json_pack("{s:{s:s,s:i,s:{s:s}},s:s}", "error", "message",
                         "Upstream error from OpenInference: Error from model endpoint", "code",
                         502, "metadata", "provider_name", "OpenInference", "user_id", "user_mock");
    case TX_MOCK_DOWN:
        *status = 503;
        snprintf(msg, sizeof msg,
                 "The model `%.100s` is currently unavailable (tenax mock --down-models). "
                 "Please try again later.",
                 model);
        return openai_error(msg, "server_error", "model_unavailable");
    default:
        return NULL;
    }
}

int tx__mock_tokens(const char *text)
{
    int n = 0, in = 0;
    for (const char *p = text ? text : ""; *p; p++) {
        int w = !isspace((unsigned char)*p);
        if (w && !in) n++;
        in = w;
    }
    return n ? n : 1;
}

static uint64_t fnv(const char *s, size_t len, uint64_t h)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static const char *const stop_words[] = {
    "about", "after", "again", "also",    "been",   "before", "being", "could", "does",  "from",
    "have",  "here",  "into",  "just",    "like",   "more",   "most",  "only",  "other", "over",
    "some",  "such",  "than",  "that",    "their",  "them",   "then",  "there", "these", "they",
    "this",  "those", "very",  "what",    "when",   "where",  "which", "while", "will",  "with",
    "would", "your",  "were",  "because", "should", "tags",   "text",  NULL};

static int is_stop(const char *w)
{
    for (int i = 0; stop_words[i]; i++)
        if (strcmp(stop_words[i], w) == 0) return 1;
    return 0;
}

typedef struct {
    char w[48];
    uint64_t rank;
} word_t;

static int by_rank(const void *a, const void *b)
{
    const word_t *x = a, *y = b;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* The reply to a tagging prompt for `text`: a JSON array of tags from its words, sometimes in a
 * ```json fence; deterministic per text. Caller frees. NULL on out of memory. */
static char *tx_mock_tags_for(const char *text)
{
    if (text == NULL) text = "";
    size_t tlen = strlen(text);
    uint64_t th = fnv(text, tlen, 14695981039346656037ull);
    word_t words[64];
    size_t n = 0;
    const char *p = text;
    while (*p && n < 64) {
        while (*p && !isalnum((unsigned char)*p))
            p++;
        const char *s = p;
        while (*p && (isalnum((unsigned char)*p) || *p == '-'))
            p++;
        size_t len = (size_t)(p - s);
        if (len < 4 || len >= sizeof words[0].w) continue;
        word_t w;
        for (size_t i = 0; i < len; i++)
            w.w[i] = (char)tolower((unsigned char)s[i]);
        w.w[len] = '\0';
        if (is_stop(w.w) || isdigit((unsigned char)w.w[0])) continue;
        int dup = 0;
        for (size_t i = 0; i < n && !dup; i++)
            dup = strcmp(words[i].w, w.w) == 0;
        if (dup) continue;
        w.rank = fnv(w.w, len, th);
        words[n++] = w;
    }
    qsort(words, n, sizeof words[0], by_rank);
    size_t take = n < 5 ? n : 3 + (size_t)(th % 3);
    if (take > n) take = n;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < take; i++)
        json_array_append_new(arr, json_string(words[i].w));
    char *js = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (js == NULL) return NULL;
    if (th % 3 != 0) return js; /* one in three replies comes in a code fence, like real models */
    size_t cap = strlen(js) + 32;
    char *fenced = malloc(cap);
    if (fenced) snprintf(fenced, cap, "```json\n%s\n```", js);
    free(js);
    return fenced;
}

static const char *msg_text(const json_t *m)
{
    const char *s = json_string_value(json_object_get(m, "content"));
    return s ? s : "";
}

char *tx__mock_content(const json_t *messages, const char *prompt, const char *model)
{
    int tagging = 0;
    const char *user = prompt ? prompt : "";
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *text = msg_text(m);
        if (strcasestr(text, "tag") &&
            (role == NULL || strcmp(role, "user") == 0 || strcmp(role, "system") == 0))
            tagging = 1;
        if (role && strcmp(role, "user") == 0) user = text;
    }
    if (prompt && strcasestr(prompt, "tag")) tagging = 1;
    if (tagging) return tx_mock_tags_for(user);
    char buf[400];
    snprintf(buf, sizeof buf, "This is a mock reply from %.60s to: %.200s", model, user);
    /* keep the text valid UTF-8 when the cut fell inside a character */
    size_t len = strlen(buf);
    while (len > 0 && ((unsigned char)buf[len - 1] & 0xC0) == 0x80)
        len--;
    if (len > 0 && ((unsigned char)buf[len - 1] & 0x80)) {
        unsigned char lead = (unsigned char)buf[len - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (strlen(buf) - (len - 1) < need) buf[len - 1] = '\0';
    }
    return strdup(buf);
}
