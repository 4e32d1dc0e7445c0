/* Fuzz target for the classifier. Input: first byte picks the entry point and response kind,
 * the next two bytes the status (mod 700), then lines "Name: value" up to an empty line as
 * headers, then the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tenax/classify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    int mode = data[0];
    int status = ((data[1] << 8) | data[2]) % 700;
    char *buf = malloc(size - 3 + 1);
    if (buf == NULL) return 0;
    memcpy(buf, data + 3, size - 3);
    buf[size - 3] = '\0';
    size_t len = size - 3;

    tx_header_t h[8];
    size_t nh = 0;
    char *p = buf, *end = buf + len;
    while (p < end && nh < 8) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL || nl == p) break;
        *nl = '\0';
        char *colon = strchr(p, ':');
        if (colon == NULL) break;
        *colon = '\0';
        h[nh].name = p;
        h[nh].value = colon + 1;
        nh++;
        p = nl + 1;
    }
    if (p < end && *p == '\n') p++;
    const char *body = p;
    size_t blen = (size_t)(end - p);

    tx_classification_t out;
    if (mode % 3 == 0)
        tx_classify_stream_event(body, blen, &out);
    else if (mode % 3 == 1)
        tx_classify_transport((tx_transport_t)(mode % 9), body, &out);
    else
        tx_classify_response(status, h, nh, body, blen, (tx_resp_kind_t)((mode >> 2) % 5),
                             1700000000000LL, &out);
    /* the result must always be a valid class with NUL-terminated texts */
    if ((unsigned)out.cls >= TX_CLASS__LAST) abort();
    if (memchr(out.message, '\0', sizeof out.message) == NULL) abort();
    if (memchr(out.code, '\0', sizeof out.code) == NULL) abort();
    free(buf);
    return 0;
}
