/* Fuzz target: bytes into the sans-I/O HTTP request parser (server/parse.h), fed in pieces whose
 * sizes come from the first 4 input bytes (each piece copied into a buffer freed after its feed),
 * with small limits so 413/431 paths are reached. Every request popped is checked for the
 * invariants the server relies on. A second parser sharing the first one's working buffer (as a
 * server's connections do) is fed the same pieces in turn and must give the same requests. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/parse.h"
#include "server/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    uint8_t steps[4];
    memcpy(steps, data, 4);
    data += 4;
    size -= 4;
    tx_http_limits_t lim = {.max_header_bytes = 2048, .max_body_bytes = 4096};
    tx_http_scratch_t *ws = tx__http_scratch_new();
    tx_http_parser_t *p = tx__http_parser_new_shared(&lim, ws);
    tx_http_parser_t *twin = tx__http_parser_new_shared(&lim, ws);
    if (ws == NULL || p == NULL || twin == NULL) {
        tx__http_parser_destroy(p);
        tx__http_parser_destroy(twin);
        tx__http_scratch_free(ws);
        return 0;
    }
    size_t off = 0, i = 0;
    while (off < size) {
        size_t n = (size_t)(steps[i++ % 4] % 64) + 1;
        if (n > size - off) n = size - off;
        /* each piece in its own buffer, freed after the feed: a parser that kept a pointer
         * into an earlier read is a use-after-free the sanitizer sees */
        char *piece = malloc(n);
        if (piece == NULL) break;
        memcpy(piece, data + off, n);
        int rc = tx__http_parser_feed(p, piece, n);
        if (tx__http_parser_feed(twin, piece, n) != rc) abort();
        free(piece);
        off += n;
        tx_http_msg_t *m;
        while ((m = tx__http_parser_pop(p)) != NULL) {
            tx_http_msg_t *t = tx__http_parser_pop(twin);
            if (t == NULL || strcmp(t->target, m->target) != 0 || t->nheaders != m->nheaders ||
                t->body_len != m->body_len || memcmp(t->body, m->body, m->body_len) != 0)
                abort();
            tx__http_msg_free(t);
            if (m->body_len > lim.max_body_bytes || strlen(m->body) > m->body_len ||
                m->path[0] != '/')
                abort();
            tx_query_t *q = tx__query_parse(m->query);
            tx__query_get(q, "a");
            tx__query_free(q);
            tx__http_msg_header(m, "content-length");
            tx__http_msg_free(m);
        }
        if (rc != 0) {
            int st = tx__http_parser_error(p, NULL, NULL);
            if (st < 400 || st > 599) abort();
            break;
        }
    }
    if (tx__http_parser_pop(twin) != NULL) abort();
    tx__http_parser_destroy(p);
    tx__http_parser_destroy(twin);
    tx__http_scratch_free(ws);
    return 0;
}
