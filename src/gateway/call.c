/* The gateway call (call.h). SKELETON: validates and answers 501 until the call loop lands. */
#include "gateway/call.h"

#include <stdio.h>

void tx_call_start(tx_app_t *app, tx_http_req_t *req, tx_route_kind_t route)
{
    size_t len = 0;
    const char *body = tx_http_req_body(req, &len);
    tx_request_t r;
    tx_request_reject_t rej;
    if (tx_request_parse(route, body, len, (size_t)app->config->max_body_bytes, &r, &rej) != 0) {
        tx_http_respond_error(req, rej.status, rej.type, rej.code, rej.message, NULL, 0);
        return;
    }
    json_decref(r.doc);
    tx_http_respond_error(req, 501, "not_implemented", NULL, "the call loop is not built yet", NULL,
                          0);
}
