/* GET /dashboard: the live dashboard page (src/ops/dashboard.html, compiled into the binary by
 * cmake/embed.cmake). The page itself is public — it holds no data and asks for the admin token
 * when the server has one; everything it shows comes from /admin/diag and /admin/stats. */
#ifndef TX_OPS_DASHBOARD_H
#define TX_OPS_DASHBOARD_H

#include <stddef.h>

#include "server/http.h"

extern const unsigned char tx_dashboard_html[];
extern const size_t tx_dashboard_html_len;

/* The route handler (ud unused). */
void tx__ops_route_dashboard(tx_http_req_t *req, void *ud);

#endif
