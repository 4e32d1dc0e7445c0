/* Fuzz target: bytes into the upstream client's response reader (upstream/response.h). The
 * first byte picks HEAD or not; the same bytes are read once whole and once in pieces whose sizes
 * come from the next 4 input bytes (each piece in its own buffer, freed after its feed). Both
 * readings must see the same status, headers, body, end and error: split invariance. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/response.h"

typedef struct {
    int heads, status;
    size_t nh, hbytes;
    uint32_t hsum, bsum;
    size_t blen;
} seen_t;

static uint32_t mix(uint32_t h, const char *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)d[i]) * 16777619u;
    return h;
}

static int on_head(void *ud, int status, const tx_header_t *h, size_t nh)
{
    seen_t *s = ud;
    s->heads++;
    s->status = status;
    s->nh = nh;
    for (size_t i = 0; i < nh; i++) {
        if (h[i].name == NULL || h[i].value == NULL) abort();
        s->hsum = mix(s->hsum, h[i].name, strlen(h[i].name) + 1);
        s->hsum = mix(s->hsum, h[i].value, strlen(h[i].value) + 1);
        s->hbytes += strlen(h[i].name) + strlen(h[i].value);
    }
    if (s->hbytes > TX_RESP_HEADER_BYTES_MAX) abort();
    return 0;
}

static int on_body(void *ud, const char *d, size_t n)
{
    seen_t *s = ud;
    if (s->heads != 1 || n == 0) abort();
    s->bsum = mix(s->bsum, d, n);
    s->blen += n;
    return 0;
}

static const tx_resp_cb_t cb = {on_head, on_body};

/* Reads data in pieces (steps NULL: whole); returns how it ended: 1 complete, 0 open, -1 error,
 * and *used the bytes consumed. */
static int read_all(const uint8_t *data, size_t size, const uint8_t *steps, int head_only, int eof,
                    seen_t *s, size_t *used)
{
    tx_resp_t r;
    memset(&r, 0, sizeof r);
    tx__resp_reset(&r, head_only, &cb, s);
    size_t off = 0, i = 0;
    int end = 0;
    while (off < size) {
        size_t n = steps != NULL ? (size_t)(steps[i++ % 4] % 32) + 1 : size;
        if (n > size - off) n = size - off;
        char *piece = malloc(n);
        if (piece == NULL) abort();
        memcpy(piece, data + off, n);
        ssize_t k = tx__resp_feed(&r, piece, n);
        free(piece);
        if (k < 0) {
            end = -1;
            break;
        }
        off += (size_t)k;
        if (r.complete) break;
        if ((size_t)k != n) abort(); /* short only at the end of a response */
    }
    if (end == 0 && r.complete) end = 1;
    if (end == 0 && eof) end = tx__resp_eof(&r) == 0 ? 1 : 0;
    if (end == 1 && !r.head_done) abort();
    if (end == 1 && head_only && s->blen != 0) abort();
    if (end == 1 && (r.status == 204 || r.status == 304) && s->blen != 0) abort();
    if (r.head_done && (r.status < 200 || r.status > 999)) abort();
    *used = off;
    tx__resp_free(&r);
    return end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5) return 0;
    int head_only = data[0] & 1, eof = (data[0] >> 1) & 1;
    const uint8_t *steps = data + 1;
    data += 5;
    size -= 5;
    seen_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    size_t ua = 0, ub = 0;
    int ea = read_all(data, size, NULL, head_only, eof, &a, &ua);
    int eb = read_all(data, size, steps, head_only, eof, &b, &ub);
    if (ea != eb || memcmp(&a, &b, sizeof a) != 0) abort();
    if (ea == 1 && ua != ub) abort();
    return 0;
}
