/* GET /dashboard (dashboard.h): the embedded page with headers that keep it to itself — no
 * other origin may frame it, and it may load nothing and talk to nothing but this server. */
#include "ops/dashboard.h"

void tx__ops_route_dashboard(tx_http_req_t *req, void *ud)
{
    (void)ud;
    static const tx_header_t h[] = {
        {"Content-Type", "text/html; charset=utf-8"},
        {"Cache-Control", "no-store"},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"},
        {"Content-Security-Policy",
         "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
         "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
         "frame-ancestors 'none'"},
    };
    tx__http_respond(req, 200, h, sizeof h / sizeof h[0], (const char *)tx_dashboard_html,
                     tx_dashboard_html_len);
}
