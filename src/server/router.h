/* Method + path routing with {param} segments, 404/405 in the OpenAI error style, and
 * query-string parsing with percent-decoding. Table-driven: routes are rows added in order;
 * the first row whose pattern and method match wins. */
#ifndef TX_SERVER_ROUTER_H
#define TX_SERVER_ROUTER_H

#include <stddef.h>

#include "server/http.h"

typedef struct tx_router tx_router_t;

/* Handles a matched request; the route's {params} are on the request (tx__http_req_param). */
typedef void (*tx_route_fn)(tx_http_req_t *req, void *ud);

/* A row of a route table (for tx__router_add_table); ends with a row whose method is NULL. */
typedef struct {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/v1/items/{id}/regenerate"; a segment "{name}" matches any one
                            non-empty segment */
    tx_route_fn fn;
} tx_route_t;

/* A new, empty router. NULL on out of memory. */
tx_router_t *tx__router_new(void);
void tx__router_destroy(tx_router_t *r); /* NULL is a no-op */

/* Adds a route (strings copied). Returns TX_EINVAL for a pattern not starting with '/' or a
 * malformed {param}, TX_ENOMEM on out of memory (then the router is unchanged). */
tx_err_t tx__router_add(tx_router_t *r, const char *method, const char *pattern, tx_route_fn fn,
                        void *ud);
/* Adds every row of `table`, all with `ud`; stops at the first error and returns it. */
tx_err_t tx__router_add_table(tx_router_t *r, const tx_route_t *table, void *ud);

/* Pure matching, for tests and tools. Returns 200 when a route matches (its index in *index,
 * params appended to `names`/`values` — up to `cap`, decoded, each malloc'd: free them with
 * tx__router_free_params), 405 when the path matches only for other methods (their list in
 * `allow`, e.g. "GET, POST"), 404 when nothing matches, 400 for a path with bad
 * percent-encoding. */
int tx__router_match(const tx_router_t *r, const char *method, const char *path, size_t *index,
                     char **names, char **values, size_t cap, size_t *nparams, char *allow,
                     size_t allow_cap);
void tx__router_free_params(char **names, char **values, size_t n);

/* An http handler (tx_http_config_t.handler) that dispatches through the router `ud`. */
void tx__router_handler(tx_http_req_t *req, void *ud);

/* Built-in GET /healthz → 200 {"status":"ok"}. Register with tx__router_add(r, "GET",
 * "/healthz", tx__route_healthz, NULL). */
void tx__route_healthz(tx_http_req_t *req, void *ud);

/* --- percent-decoding and query strings -------------------------------------------------- */

/* Decodes `len` bytes of `in` ('%XX'; with `plus` also '+' as space) into a new string (caller
 * frees). NULL for a bad escape, an encoded NUL, or out of memory. */
char *tx__url_decode(const char *in, size_t len, int plus);

typedef struct tx_query tx_query_t;
/* Parses "a=1&b=x%20y&flag" (NULL or "" gives an empty query). NULL on a bad escape or out of
 * memory. Keys without '=' get the value "". */
tx_query_t *tx__query_parse(const char *query);
void tx__query_free(tx_query_t *q); /* NULL is a no-op */
/* The first value of `key`, decoded; NULL when absent. Owned by q. */
const char *tx__query_get(const tx_query_t *q, const char *key);
size_t tx__query_count(const tx_query_t *q);

#endif
