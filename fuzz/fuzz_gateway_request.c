/* Fuzzes gateway request validation for every route and the model substitution: a body either
 * parses to an object (then jansson, too, reads it as an object, and substituting a model gives
 * JSON with that model) or is refused with a 400/413 and a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int r = 0; r < TX_ROUTE__LAST; r++) {
        tx_request_t rq;
        tx_request_reject_t rej;
        if (tx__request_parse((tx_route_kind_t)r, (const char *)data, size, 1 << 16, &rq, &rej) !=
            0) {
            if ((rej.status != 400 && rej.status != 413) || rej.message[0] == '\0' ||
                rq.parsed != 0 || rq.model != NULL)
                abort();
            continue;
        }
        if (r == TX_ROUTE_MODELS) continue;
        if (rq.parsed != 1 || (rq.stream != 0 && rq.stream != 1)) abort();
        /* what the validation accepts, jansson (the model rewrite's parser) accepts too */
        json_t *j = json_loadb((const char *)data, size, JSON_DECODE_INT_AS_REAL, NULL);
        if (!json_is_object(j)) abort();
        json_decref(j);
        char *out = NULL;
        size_t len = 0;
        if (tx__request_body_for_model((const char *)data, size, rq.model, "fuzz-model", &out,
                                       &len) != 0)
            abort();
        if (out != NULL) {
            json_t *re = json_loadb(out, len, JSON_DECODE_INT_AS_REAL, NULL);
            if (re == NULL ||
                strcmp(json_string_value(json_object_get(re, "model")), "fuzz-model") != 0)
                abort();
            json_decref(re);
            free(out);
        } else if (rq.model == NULL || strcmp(rq.model, "fuzz-model") != 0) {
            abort();
        }
        tx__request_free(&rq);
    }
    return 0;
}
