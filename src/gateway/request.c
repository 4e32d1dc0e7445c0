/* Validation of gateway request bodies (parsed once with jansson) and the per-attempt body with
 * a substituted model. See request.h. */
#include "gateway/request.h"

#include <stdio.h>
#include <string.h>

static const char *const upstream_paths[TX_ROUTE__LAST] = {
    "/chat/completions", "/completions", "/embeddings", "/models"};
static const char *const client_paths[TX_ROUTE__LAST] = {
    "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models"};

const char *tx_route_upstream_path(tx_route_kind_t r)
{
    return (unsigned)r < TX_ROUTE__LAST ? upstream_paths[r] : NULL;
}

const char *tx_route_path(tx_route_kind_t r)
{
    return (unsigned)r < TX_ROUTE__LAST ? client_paths[r] : NULL;
}

static int reject(tx_request_reject_t *rej, tx_request_t *out, int status, const char *code,
                  const char *msg, const char *arg)
{
    memset(out, 0, sizeof *out);
    if (rej != NULL) {
        rej->status = status;
        rej->type = "invalid_request_error";
        rej->code = code;
        snprintf(rej->message, sizeof rej->message, msg, arg != NULL ? arg : "");
    }
    return -1;
}

int tx_request_parse(tx_route_kind_t route, const char *body, size_t len, size_t max_len,
                     tx_request_t *out, tx_request_reject_t *rej)
{
    tx_request_t dummy;
    if (out == NULL)
        out = &dummy;
    memset(out, 0, sizeof *out);
    if ((unsigned)route >= TX_ROUTE__LAST)
        return reject(rej, out, 400, "invalid_route", "%sunknown route", NULL);
    if (route == TX_ROUTE_MODELS)
        return 0;
    if (max_len > 0 && len > max_len) {
        char lim[32];
        snprintf(lim, sizeof lim, "%zu", max_len);
        return reject(rej, out, 413, "body_too_large",
                      "the request body is larger than the limit of %s bytes", lim);
    }
    if (body == NULL || len == 0)
        return reject(rej, out, 400, "invalid_json", "%sthe request body is empty: send a JSON object",
                      NULL);
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return reject(rej, out, 400, "invalid_json", "the request body is not valid JSON: %s",
                      jerr.text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return reject(rej, out, 400, "invalid_type", "%sthe request body must be a JSON object",
                      NULL);
    }
    json_t *model = json_object_get(doc, "model");
    if (model != NULL && !json_is_string(model)) {
        json_decref(doc);
        return reject(rej, out, 400, "invalid_type", "%s'model' must be a string", NULL);
    }
    if (model != NULL && json_string_length(model) == 0) {
        json_decref(doc);
        return reject(rej, out, 400, "invalid_value", "%s'model' must not be empty", NULL);
    }
    json_t *stream = json_object_get(doc, "stream");
    if (stream != NULL && !json_is_boolean(stream)) {
        json_decref(doc);
        return reject(rej, out, 400, "invalid_type", "%s'stream' must be a boolean", NULL);
    }
    if (route == TX_ROUTE_CHAT) {
        json_t *msgs = json_object_get(doc, "messages");
        if (msgs == NULL) {
            json_decref(doc);
            return reject(rej, out, 400, "missing_field", "%s'messages' is required", NULL);
        }
        if (!json_is_array(msgs)) {
            json_decref(doc);
            return reject(rej, out, 400, "invalid_type", "%s'messages' must be an array of objects",
                          NULL);
        }
        size_t i;
        json_t *m;
        json_array_foreach(msgs, i, m)
        {
            if (!json_is_object(m)) {
                json_decref(doc);
                return reject(rej, out, 400, "invalid_type",
                              "%s'messages' must be an array of objects", NULL);
            }
        }
    } else if (route == TX_ROUTE_COMPLETIONS && json_object_get(doc, "prompt") == NULL) {
        json_decref(doc);
        return reject(rej, out, 400, "missing_field", "%s'prompt' is required", NULL);
    } else if (route == TX_ROUTE_EMBEDDINGS && json_object_get(doc, "input") == NULL) {
        json_decref(doc);
        return reject(rej, out, 400, "missing_field", "%s'input' is required", NULL);
    }
    if (route == TX_ROUTE_EMBEDDINGS && json_is_true(stream)) {
        json_decref(doc);
        return reject(rej, out, 400, "invalid_value", "%s'stream' is not supported for embeddings",
                      NULL);
    }
    out->doc = doc;
    out->model = model != NULL ? json_string_value(model) : NULL;
    out->stream = json_is_true(stream);
    return 0;
}

int tx_request_body_for_model(json_t *doc, const char *doc_model, const char *model, char **out,
                              size_t *out_len)
{
    if (out == NULL)
        return -1;
    *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (model == NULL || (doc_model != NULL && strcmp(doc_model, model) == 0))
        return 0;
    if (!json_is_object(doc))
        return -1;
    /* Hold the old value so borrowed pointers into it (doc_model) stay valid, swap the model in
     * for the dump, and put it back: no deep copy of the (possibly large) messages. */
    json_t *old = json_object_get(doc, "model");
    json_incref(old);
    json_t *m = json_string(model);
    if (m == NULL || json_object_set_new(doc, "model", m) != 0) {
        json_decref(old);
        return -1;
    }
    char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (old != NULL)
        json_object_set_new(doc, "model", old); /* takes our reference back */
    else
        json_object_del(doc, "model");
    if (s == NULL)
        return -1;
    *out = s;
    if (out_len != NULL)
        *out_len = strlen(s);
    return 0;
}
