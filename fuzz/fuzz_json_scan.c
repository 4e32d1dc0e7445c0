/* Fuzzes the strict JSON scanner (core/json_scan.h) and the one-pass paths built on it.
 * Input: the first byte picks the response kind, the 2xx status and the request route; the rest
 * is the text. Checked: (1) what the scanner accepts, cJSON reads whole, and on a text within
 * the scanner's depth and number-length limits without a byte-order mark, it accepts exactly what
 * the lexical check and cJSON together accept; (2) the classifier's fast paths and its cJSON
 * tree paths give the same tx_classification_t, for the text as a 2xx body and as a stream
 * event; (3) request validation's one-pass check and its tree path give the same verdict. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/classify_tree.h"
#include "core/json_scan.h"
#include "gateway/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* cJSON's verdict on the whole text: parsed, with only white space after it. */
static int cjson_whole(const char *p, size_t n)
{
    const char *end = NULL;
    cJSON *c = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    if (c == NULL) return 0;
    cJSON_Delete(c);
    while (end < p + n && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    return end == p + n;
}

static int same_class(const tx_classification_t *a, const tx_classification_t *b)
{
    return a->cls == b->cls && a->status == b->status && strcmp(a->code, b->code) == 0 &&
           strcmp(a->message, b->message) == 0 && a->retry_after_ms == b->retry_after_ms &&
           a->prompt_tokens == b->prompt_tokens && a->completion_tokens == b->completion_tokens &&
           a->total_tokens == b->total_tokens && a->output == b->output &&
           a->error_shape == b->error_shape;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned sel = data[0];
    const char *p = (const char *)data + 1;
    size_t n = size - 1;

    /* (1) the validator */
    size_t at = 0;
    const char *why = tx__json_validate(p, n, &at);
    if (why == NULL && !cjson_whole(p, n)) abort();
    if (why != NULL && at > n) abort();
    int bom = n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0;
    if (why != NULL && strcmp(why, "nesting too deep") != 0 &&
        strcmp(why, "a number longer than 63 characters") != 0 && !bom) {
        size_t lat;
        if (tx__json_lex_check(p, n, &lat) == NULL && cjson_whole(p, n)) abort();
    }

    /* (2) classification */
    tx_classification_t a, b;
    tx_resp_kind_t kind = (tx_resp_kind_t)(sel % 5);
    int status = 200 + (int)((sel >> 3) % 3);
    tx__classify_response_with(status, NULL, 0, p, n, kind, 0, &a, cJSON_Delete);
    tx__classify_response_tree(status, NULL, 0, p, n, kind, 0, &b, cJSON_Delete);
    if (!same_class(&a, &b)) abort();
    tx__classify_stream_event_with(p, n, &a, cJSON_Delete);
    tx__classify_stream_event_tree(p, n, &b, cJSON_Delete);
    if (!same_class(&a, &b)) abort();

    /* (3) request validation */
    tx_route_kind_t route = (tx_route_kind_t)((sel >> 5) % TX_ROUTE__LAST);
    tx_request_t ra, rb;
    tx_request_reject_t ja, jb;
    int xa = tx__request_parse(route, p, n, 1 << 16, &ra, &ja);
    int xb = tx__request_parse_tree(route, p, n, 1 << 16, &rb, &jb);
    if (xa != xb) abort();
    if (xa == 0) {
        if (ra.stream != rb.stream || ra.parsed != rb.parsed) abort();
        if ((ra.model == NULL) != (rb.model == NULL)) abort();
        if (ra.model != NULL && strcmp(ra.model, rb.model) != 0) abort();
        tx__request_free(&ra);
        tx__request_free(&rb);
    } else if (ja.status != jb.status || strcmp(ja.code, jb.code) != 0 ||
               strcmp(ja.message, jb.message) != 0) {
        abort();
    }
    return 0;
}
