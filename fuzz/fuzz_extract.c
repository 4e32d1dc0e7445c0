/* Fuzz target for output extraction: the input is LLM content run through json, tags and text;
 * kept tags must be at most 10 non-empty strings of at most 64 bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tenax/extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    tx_error_t err;
    json_decref(tx_extract_json(s, size, &err));
    json_t *tags = tx_extract_tags(s, size, &err);
    if (tags != NULL) {
        if (json_array_size(tags) == 0 || json_array_size(tags) > TX_TAGS_MAX) abort();
        size_t i;
        json_t *t;
        json_array_foreach(tags, i, t)
        {
            size_t n = json_string_length(t);
            if (n == 0 || n > TX_TAG_MAX_BYTES) abort();
        }
        json_decref(tags);
    }
    free(tx_extract_text(s, size, &err));
    return 0;
}
