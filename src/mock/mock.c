/* The mock's routes: decide an outcome per request (down model, script, or seeded draw), count
 * it, and answer in the provider's shape — at once, after --latency-ms, dribbled (slow), never
 * (timeout), cut with an RST (reset), cut mid-stream (midstream) or after a role-only chunk
 * (streamfail). */
#include "mock/mock.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock/replies.h"

typedef enum { EP_CHAT, EP_COMPLETIONS, EP_EMBEDDINGS, EP_RESPONSES } endpoint_t;

struct tx_mock {
    uv_loop_t *loop;
    tx_mock_config_t cfg;
    uint64_t rng;
    uint64_t counter;
    json_int_t total;
    json_t *by_model, *by_outcome, *by_script;
    json_t *script_pos;  /* id -> requests seen with that id */
    struct ctx *live;    /* delayed answers in progress */
    size_t nlive;        /* their number: the completions in flight */
    size_t peak;         /* the most in flight at once (since start or /mock/reset) */
    json_int_t over_cap; /* completions refused with 1302 by --max-inflight */
};

/* A delayed answer: owns its timer; freed when the timer handle has closed. */
typedef struct ctx {
    tx_mock_t *m;
    tx_http_req_t *req; /* NULL once finished */
    uv_timer_t timer;
    tx_mock_kind_t kind;
    endpoint_t ep;
    int stream, streaming;
    char *model;
    json_t *body;
    char *payload; /* slow: the bytes still to dribble */
    size_t len, off;
    struct ctx *prev, *next;
} ctx_t;

static const tx_header_t json_ct = {"Content-Type", "application/json"};

static uint64_t next_rand(tx_mock_t *m)
{
    uint64_t z = (m->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static tx_mock_kind_t tx_mock_draw(tx_mock_t *m)
{
    double u = (double)(next_rand(m) >> 11) * (1.0 / 9007199254740992.0);
    double acc = 0;
    for (size_t i = 0; i < m->cfg.nfaults; i++) {
        acc += m->cfg.faults[i].prob;
        if (u < acc) return m->cfg.faults[i].kind;
    }
    return TX_MOCK_OK;
}

static void bump(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v)
        json_integer_set(v, json_integer_value(v) + 1);
    else
        json_object_set_new(obj, key, json_integer(1));
}

static void respond_json(tx_http_req_t *req, int status, json_t *doc, const tx_header_t *extra,
                         size_t n)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    tx_header_t h[8];
    size_t k = 0;
    h[k++] = json_ct;
    for (size_t i = 0; i < n && k < 8; i++)
        h[k++] = extra[i];
    if (s)
        tx__http_respond(req, status, h, k, s, strlen(s));
    else
        tx__http_respond_error(req, 500, "server_error", NULL, "mock: out of memory", NULL, 0);
    free(s);
}

/* ---- successful bodies ------------------------------------------------------------------- */

static json_t *usage(int prompt, int completion)
{
    return json_pack("{s:i,s:i,s:i}", "prompt_tokens", prompt, "completion_tokens", completion,
                     "total_tokens", prompt + completion);
}

static int prompt_tokens(const json_t *body)
{
    int n = 0;
    size_t i;
    json_t *msg;
    json_array_foreach(json_object_get(body, "messages"), i, msg) n +=
        tx__mock_tokens(json_string_value(json_object_get(msg, "content")));
    const char *prompt = json_string_value(json_object_get(body, "prompt"));
    if (prompt) n += tx__mock_tokens(prompt);
    const char *input = json_string_value(json_object_get(body, "input"));
    if (input) n += tx__mock_tokens(input);
    json_array_foreach(json_object_get(body, "input"), i, msg) n +=
        tx__mock_tokens(json_string_value(json_object_get(msg, "content")));
    return n ? n : 1;
}

static char *content_for(const json_t *body, const char *model)
{
    /* Responses: `input` is the prompt text or a list of messages */
    const json_t *input = json_object_get(body, "input");
    if (json_is_string(input)) return tx__mock_content(NULL, json_string_value(input), model);
    if (json_is_array(input)) return tx__mock_content(input, NULL, model);
    return tx__mock_content(json_object_get(body, "messages"),
                            json_string_value(json_object_get(body, "prompt")), model);
}

/* A Responses API object: completed with one output_text message, or failed. */
static json_t *response_obj(tx_mock_t *m, const char *model, const char *content, int pt, int ct,
                            int failed)
{
    char id[64], mid[64];
    snprintf(id, sizeof id, "resp_mock_%llu", (unsigned long long)++m->counter);
    snprintf(mid, sizeof mid, "msg_mock_%llu", (unsigned long long)m->counter);
    json_t *output = json_array();
    if (!failed && content != NULL)
        json_array_append_new(output, json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s,s:[]}]}", "type",
                                                "message", "id", mid, "status", "completed", "role",
                                                "assistant", "content", "type", "output_text",
                                                "text", content, "annotations"));
    json_t *err = failed ? json_pack("{s:s,s:s}", "code", "server_error", "message",
                                     "The model failed to generate a response (tenax mock).")
                         : json_null();
    json_t *usage = failed ? json_null()
                           : json_pack("{s:i,s:i,s:i}", "input_tokens", pt, "output_tokens", ct,
                                       "total_tokens", pt + ct);
    return json_pack("{s:s,s:s,s:I,s:s,s:s,s:o,s:o,s:n,s:o}", "id", id, "object", "response",
                     "created_at", (json_int_t)time(NULL), "status",
                     failed ? "failed" : "completed", "model", model, "output", output, "error",
                     err, "incomplete_details", "usage", usage);
}

/* Appends "event: <type>\ndata: <json>\n\n" (the event's "type" is `type`). */
static int sse_event(char **out, size_t *len, size_t *cap, const char *type, json_t *ev)
{
    json_object_set_new(ev, "type", json_string(type));
    char *s = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (s == NULL) return -1;
    size_t need = *len + strlen(s) + strlen(type) + 32;
    if (need > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < need)
            c *= 2;
        char *n = realloc(*out, c);
        if (n == NULL) {
            free(s);
            return -1;
        }
        *out = n;
        *cap = c;
    }
    *len += (size_t)snprintf(*out + *len, *cap - *len, "event: %s\ndata: %s\n\n", type, s);
    free(s);
    return 0;
}

/* The events of a streamed Responses answer (or of one that fails before any output). With
 * `first_only`, the events up to the first output delta. */
static char *responses_sse(tx_mock_t *m, const json_t *body, const char *model, int failed,
                           int first_only)
{
    char *content = content_for(body, model);
    if (content == NULL) return NULL;
    int pt = prompt_tokens(body), ct = tx__mock_tokens(content);
    char *out = NULL;
    size_t len = 0, cap = 0;
    json_t *created = response_obj(m, model, NULL, 0, 0, 0);
    json_object_set_new(created, "status", json_string("in_progress"));
    json_object_set_new(created, "usage", json_null());
    const char *rid = json_string_value(json_object_get(created, "id"));
    char id[64];
    snprintf(id, sizeof id, "%s", rid ? rid : "resp_mock");
    int rc = sse_event(&out, &len, &cap, "response.created",
                       json_pack("{s:o,s:i}", "response", created, "sequence_number", 0));
    int seq = 1;
    if (failed) {
        json_t *resp = response_obj(m, model, NULL, 0, 0, 1);
        json_object_set_new(resp, "id", json_string(id));
        rc |= sse_event(&out, &len, &cap, "response.failed",
                        json_pack("{s:o,s:i}", "response", resp, "sequence_number", seq++));
        free(content);
        return rc == 0 ? out : (free(out), NULL);
    }
    rc |= sse_event(&out, &len, &cap, "response.output_item.added",
                    json_pack("{s:i,s:{s:s,s:s,s:s,s:s,s:[]},s:i}", "output_index", 0, "item",
                              "type", "message", "id", "msg_mock", "status", "in_progress", "role",
                              "assistant", "content", "sequence_number", seq++));
    size_t clen = strlen(content), off = 0;
    for (int i = 0; i < 4 && off < clen; i++) {
        size_t take = i == 3 ? clen - off : (clen + 3) / 4;
        if (off + take > clen) take = clen - off;
        while (off + take < clen && ((unsigned char)content[off + take] & 0xC0) == 0x80)
            take++;
        rc |= sse_event(&out, &len, &cap, "response.output_text.delta",
                        json_pack("{s:s,s:i,s:i,s:s%,s:i}", "item_id", "msg_mock", "output_index",
                                  0, "content_index", 0, "delta", content + off, take,
                                  "sequence_number", seq++));
        off += take;
        if (first_only) break;
    }
    if (!first_only) {
        rc |= sse_event(&out, &len, &cap, "response.output_text.done",
                        json_pack("{s:s,s:i,s:i,s:s,s:i}", "item_id", "msg_mock", "output_index", 0,
                                  "content_index", 0, "text", content, "sequence_number", seq++));
        json_t *done = response_obj(m, model, content, pt, ct, 0);
        json_object_set_new(done, "id", json_string(id));
        rc |= sse_event(&out, &len, &cap, "response.completed",
                        json_pack("{s:o,s:i}", "response", done, "sequence_number", seq++));
    }
    free(content);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static json_t *ok_body(tx_mock_t *m, endpoint_t ep, const json_t *body, const char *model,
                       int empty)
{
    char id[64];
    snprintf(id, sizeof id, "%s-mock-%llu", ep == EP_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)++m->counter);
    json_int_t created = (json_int_t)time(NULL);
    if (ep == EP_EMBEDDINGS) {
        json_t *input = json_object_get(body, "input");
        json_t *data = json_array();
        size_t count = json_is_array(input) ? json_array_size(input) : 1;
        for (size_t i = 0; !empty && i < count && i < 2048; i++) {
            json_t *in = json_is_array(input) ? json_array_get(input, i) : input;
            const char *s = json_string_value(in);
            uint64_t h = 1469598103934665603ull;
            for (const char *p = s ? s : ""; *p; p++)
                h = (h ^ (unsigned char)*p) * 1099511628211ull;
            json_t *vec = json_array();
            for (int d = 0; d < 8; d++) {
                h = h * 6364136223846793005ull + 1442695040888963407ull;
                json_array_append_new(vec, json_real((double)(h >> 40) / 16777216.0 - 0.5));
            }
            json_array_append_new(data, json_pack("{s:s,s:i,s:o}", "object", "embedding", "index",
                                                  (int)i, "embedding", vec));
        }
        int pt = prompt_tokens(body);
        return json_pack("{s:s,s:o,s:s,s:{s:i,s:i}}", "object", "list", "data", data, "model",
                         model, "usage", "prompt_tokens", pt, "total_tokens", pt);
    }
    char *content = content_for(body, model);
    if (content == NULL) return NULL;
    int pt = prompt_tokens(body), ct = tx__mock_tokens(content);
    if (ep == EP_RESPONSES) {
        json_t *r = response_obj(m, model, empty ? "" : content, pt, empty ? 0 : ct, 0);
        free(content);
        return r;
    }
    json_t *choices = json_array();
    if (!empty) {
        json_t *choice = ep == EP_CHAT
                             ? json_pack("{s:i,s:{s:s,s:s,s:n},s:n,s:s}", "index", 0, "message",
                                         "role", "assistant", "content", content, "refusal",
                                         "logprobs", "finish_reason", "stop")
                             : json_pack("{s:s,s:i,s:n,s:s}", "text", content, "index", 0,
                                         "logprobs", "finish_reason", "stop");
        json_array_append_new(choices, choice);
    }
    free(content);
    return json_pack("{s:s,s:s,s:I,s:s,s:o,s:o,s:s}", "id", id, "object",
                     ep == EP_CHAT ? "chat.completion" : "text_completion", "created", created,
                     "model", model, "choices", choices, "usage", usage(pt, empty ? 0 : ct),
                     "system_fingerprint", "fp_tenax_mock");
}

/* The SSE events of a streamed chat answer, as one string ("data: …\n\n" each). With `first_only`
 * only the role chunk and the first piece of content. */
static char *sse_body(tx_mock_t *m, const json_t *body, const char *model, int empty,
                      int first_only)
{
    char id[64];
    snprintf(id, sizeof id, "chatcmpl-mock-%llu", (unsigned long long)++m->counter);
    json_int_t created = (json_int_t)time(NULL);
    char *content = empty ? strdup("") : content_for(body, model);
    if (content == NULL) return NULL;
    size_t clen = strlen(content), pieces = 4;
    json_t *events = json_array();
    json_array_append_new(events, json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:s,s:s},s:n}]}", "id", id,
                                            "object", "chat.completion.chunk", "created", created,
                                            "model", model, "choices", "index", 0, "delta", "role",
                                            "assistant", "content", "", "finish_reason"));
    size_t off = 0;
    for (size_t i = 0; i < pieces && off < clen; i++) {
        size_t take = i + 1 == pieces ? clen - off : (clen + pieces - 1) / pieces;
        if (off + take > clen) take = clen - off;
        while (off + take < clen && ((unsigned char)content[off + take] & 0xC0) == 0x80)
            take++;
        json_t *piece = json_stringn(content + off, take);
        off += take;
        json_array_append_new(events, json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:o},s:n}]}", "id", id,
                                                "object", "chat.completion.chunk", "created",
                                                created, "model", model, "choices", "index", 0,
                                                "delta", "content", piece, "finish_reason"));
        if (first_only) break;
    }
    if (!first_only)
        json_array_append_new(events,
                              json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{},s:s}]}", "id", id, "object",
                                        "chat.completion.chunk", "created", created, "model", model,
                                        "choices", "index", 0, "delta", "finish_reason", "stop"));
    /* stream_options.include_usage: a last chunk with no choices and the usage, as OpenAI */
    if (!first_only &&
        json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage")))
        json_array_append_new(
            events,
            json_pack("{s:s,s:s,s:I,s:s,s:[],s:o}", "id", id, "object", "chat.completion.chunk",
                      "created", created, "model", model, "choices", "usage",
                      usage(prompt_tokens(body), empty ? 0 : tx__mock_tokens(content))));
    free(content);
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        char *s = json_dumps(ev, JSON_COMPACT);
        size_t need = len + (s ? strlen(s) : 0) + 16;
        if (s && out && need > cap) {
            while (cap < need)
                cap *= 2;
            char *n = realloc(out, cap);
            if (n == NULL) free(out);
            out = n;
        }
        if (s && out) len += (size_t)snprintf(out + len, cap - len, "data: %s\n\n", s);
        free(s);
    }
    json_decref(events);
    if (out && !first_only) {
        if (len + 16 > cap) {
            char *n = realloc(out, len + 16);
            if (n == NULL) free(out);
            out = n;
        }
        if (out) snprintf(out + len, 16, "data: [DONE]\n\n");
    }
    return out;
}

/* ---- answering an outcome ---------------------------------------------------------------- */

static const tx_header_t sse_headers[] = {{"Content-Type", "text/event-stream"},
                                          {"Cache-Control", "no-cache"}};

static void ctx_closed(uv_handle_t *h)
{
    ctx_t *c = h->data;
    json_decref(c->body);
    free(c->model);
    free(c->payload);
    free(c);
}

static void ctx_done(ctx_t *c)
{
    tx_mock_t *m = c->m;
    if (c->prev)
        c->prev->next = c->next;
    else
        m->live = c->next;
    if (c->next) c->next->prev = c->prev;
    m->nlive--;
    c->req = NULL;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, ctx_closed);
}

static void on_ctx_abort(tx_http_req_t *req, void *ud)
{
    ctx_t *c = ud;
    if (c->streaming)
        tx__http_stream_end(req);
    else
        tx__http_respond(req, 499, NULL, 0, NULL, 0); /* frees only: the client is gone */
    ctx_done(c);
}

static void on_slow_tick(uv_timer_t *t)
{
    ctx_t *c = t->data;
    size_t piece = c->stream ? 0 : 24;
    if (c->stream) { /* one SSE event per tick */
        const char *next = strstr(c->payload + c->off, "\n\n");
        piece = next ? (size_t)(next + 2 - (c->payload + c->off)) : c->len - c->off;
    }
    if (piece > c->len - c->off) piece = c->len - c->off;
    tx__http_stream_write(c->req, c->payload + c->off, piece);
    if (c->req == NULL) return; /* the write found the client gone: on_ctx_abort cleaned up */
    c->off += piece;
    if (c->off >= c->len) {
        tx__http_stream_end(c->req);
        ctx_done(c);
        return;
    }
    uv_timer_start(&c->timer, on_slow_tick, c->m->cfg.slow_ms, 0);
}

static void answer(tx_mock_t *m, tx_http_req_t *req, tx_mock_kind_t k, endpoint_t ep,
                   const json_t *body, const char *model, int stream, ctx_t *c);

static void on_latency(uv_timer_t *t)
{
    ctx_t *c = t->data;
    answer(c->m, c->req, c->kind, c->ep, c->body, c->model, c->stream, c);
}

static ctx_t *ctx_new(tx_mock_t *m, tx_http_req_t *req, tx_mock_kind_t k, endpoint_t ep,
                      const json_t *body, const char *model, int stream)
{
    ctx_t *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->m = m;
    c->req = req;
    c->kind = k;
    c->ep = ep;
    c->stream = stream;
    c->model = strdup(model);
    c->body = json_incref((json_t *)body);
    uv_timer_init(m->loop, &c->timer);
    c->timer.data = c;
    c->next = m->live;
    if (m->live) m->live->prev = c;
    m->live = c;
    if (++m->nlive > m->peak) m->peak = m->nlive;
    tx__http_req_on_abort(req, on_ctx_abort, c);
    return c;
}

/* Answers `req` with outcome `k`. `c` is the delayed-answer context when called from a timer
 * (NULL when answering at once); it is finished here unless the answer goes on (slow, timeout). */
static void answer(tx_mock_t *m, tx_http_req_t *req, tx_mock_kind_t k, endpoint_t ep,
                   const json_t *body, const char *model, int stream, ctx_t *c)
{
    int status = 200;
    json_t *err = tx__mock_error(k, model, m->cfg.retry_after_s, &status);
    if (err && k == TX_MOCK_ERR200 && ep == EP_RESPONSES) {
        /* a Responses answer whose status is failed (a response.failed event when streamed) */
        json_decref(err);
        err = NULL;
        if (stream) {
            char *sse = responses_sse(m, body, model, 1, 0);
            if (sse != NULL) {
                tx__http_stream_begin(req, 200, sse_headers, 2);
                tx__http_stream_write(req, sse, strlen(sse));
                tx__http_stream_end(req);
                free(sse);
            } else {
                tx__http_respond_error(req, 500, "server_error", NULL, "mock: out of memory", NULL,
                                       0);
            }
        } else {
            json_t *doc = response_obj(m, model, NULL, 0, 0, 1);
            respond_json(req, 200, doc, NULL, 0);
            json_decref(doc);
        }
        if (c) ctx_done(c);
        return;
    }
    if (err && !(k == TX_MOCK_ERR200 && stream && ep == EP_CHAT)) {
        char ra[32];
        snprintf(ra, sizeof ra, "%u", m->cfg.retry_after_s);
        tx_header_t h[4];
        size_t n = 0;
        if (k == TX_MOCK_E429 || k == TX_MOCK_E1302) {
            h[n++] = (tx_header_t){"Retry-After", ra};
            if (k == TX_MOCK_E429) {
                h[n++] = (tx_header_t){"x-ratelimit-limit-requests", "3"};
                h[n++] = (tx_header_t){"x-ratelimit-remaining-requests", "0"};
                h[n++] = (tx_header_t){"x-ratelimit-reset-requests", "20s"};
            }
        }
        respond_json(req, status, err, h, n);
        json_decref(err);
        if (c) ctx_done(c);
        return;
    }
    if (k == TX_MOCK_TIMEOUT) {
        if (c == NULL && ctx_new(m, req, k, ep, body, model, stream) == NULL)
            tx__http_respond_error(req, 500, "server_error", NULL, "mock: out of memory", NULL, 0);
        return; /* answered by on_ctx_abort when the client gives up */
    }
    if (k == TX_MOCK_RESET) {
        static const char partial[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                      "Content-Length: 1000\r\n\r\n{\"id\":\"chatcmpl-mock\",\"obj";
        tx__http_reset(req, partial, sizeof partial - 1);
        if (c) ctx_done(c);
        return;
    }
    if (k == TX_MOCK_STREAMFAIL && stream && ep == EP_CHAT) {
        /* a role-only chunk (no output yet), then the connection ends without [DONE] */
        char chunk[256];
        int n =
            snprintf(chunk, sizeof chunk,
                     "data: {\"id\":\"chatcmpl-mock-fail\",\"object\":\"chat.completion.chunk\","
                     "\"created\":0,\"model\":\"%.100s\",\"choices\":[{\"index\":0,"
                     "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                     "\"finish_reason\":null}]}\n\n",
                     model);
        tx__http_stream_begin(req, 200, sse_headers, 2);
        tx__http_stream_write(req, chunk, (size_t)n);
        tx__http_stream_cut(req);
        if (c) ctx_done(c);
        return;
    }
    if (k == TX_MOCK_STREAMFAIL) { /* not a chat stream: cut the body as `reset` does */
        answer(m, req, TX_MOCK_RESET, ep, body, model, stream, c);
        return;
    }
    if (k == TX_MOCK_BADJSON) {
        static const char garbage[] = "{\"id\":\"chatcmpl-mock\",\"choices\":[{\"message\":<html>"
                                      "<body>502 upstream hiccup</body></html>";
        if (stream && (ep == EP_CHAT || ep == EP_RESPONSES)) {
            tx__http_stream_begin(req, 200, sse_headers, 2);
            tx__http_stream_write(
                req, "data: {\"id\":\"chatcmpl-mock\",\"choices\":[{\"delta\":\n\n", 51);
            tx__http_stream_write(req, "data: [DONE]\n\n", 14);
            tx__http_stream_end(req);
        } else {
            tx__http_respond(req, 200, &json_ct, 1, garbage, sizeof garbage - 1);
        }
        if (c) ctx_done(c);
        return;
    }
    int empty = k == TX_MOCK_EMPTY;
    if (stream && (ep == EP_CHAT || ep == EP_RESPONSES)) {
        char *sse = NULL;
        if (err) { /* err200 inside a stream: OpenRouter sends the error as an SSE event */
            char *s = json_dumps(err, JSON_COMPACT);
            size_t cap = (s ? strlen(s) : 0) + 32;
            sse = s ? malloc(cap) : NULL;
            if (sse) snprintf(sse, cap, "data: %s\n\n", s);
            free(s);
            json_decref(err);
        } else if (ep == EP_RESPONSES) {
            sse = responses_sse(m, body, model, 0, k == TX_MOCK_MIDSTREAM);
        } else {
            sse = sse_body(m, body, model, empty, k == TX_MOCK_MIDSTREAM);
        }
        if (sse == NULL) {
            tx__http_respond_error(req, 500, "server_error", NULL, "mock: out of memory", NULL, 0);
            if (c) ctx_done(c);
            return;
        }
        tx__http_stream_begin(req, 200, sse_headers, 2);
        if (k == TX_MOCK_SLOW) {
            if (c == NULL) c = ctx_new(m, req, k, ep, body, model, stream);
            if (c == NULL) {
                free(sse);
                tx__http_stream_end(req);
                return;
            }
            c->streaming = 1;
            c->payload = sse;
            c->len = strlen(sse);
            on_slow_tick(&c->timer);
            return;
        }
        tx__http_stream_write(req, sse, strlen(sse));
        free(sse);
        /* a FIN, not an RST: an RST may make the peer's kernel drop the chunks unread */
        if (k == TX_MOCK_MIDSTREAM)
            tx__http_stream_cut(req);
        else
            tx__http_stream_end(req);
        if (c) ctx_done(c);
        return;
    }
    if (k == TX_MOCK_MIDSTREAM) { /* not a stream: cut the body as `reset` does */
        answer(m, req, TX_MOCK_RESET, ep, body, model, stream, c);
        return;
    }
    json_t *doc = ok_body(m, ep, body, model, empty);
    if (k == TX_MOCK_SLOW) {
        char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (c == NULL && s) c = ctx_new(m, req, k, ep, body, model, stream);
        if (c == NULL || s == NULL) {
            free(s);
            tx__http_respond_error(req, 500, "server_error", NULL, "mock: out of memory", NULL, 0);
            if (c) ctx_done(c);
            return;
        }
        tx__http_stream_begin(req, 200, &json_ct, 1);
        c->streaming = 1;
        c->payload = s;
        c->len = strlen(s);
        on_slow_tick(&c->timer);
        return;
    }
    respond_json(req, 200, doc, NULL, 0);
    json_decref(doc);
    if (c) ctx_done(c);
}

/* ---- routes ------------------------------------------------------------------------------ */

static int is_down(const tx_mock_t *m, const char *model)
{
    for (size_t i = 0; i < m->cfg.ndown; i++)
        if (strcmp(m->cfg.down_models[i], model) == 0) return 1;
    return 0;
}

/* The request as one provider among several would check it: its key (401), the headers and
 * query parameters it must carry (400), a model it does not serve (404). 1 when answered. */
static int refused(tx_mock_t *m, tx_http_req_t *req, const char *model)
{
    const tx_mock_config_t *c = &m->cfg;
    if (c->expect_key[0] != '\0') {
        const char *auth = tx__http_req_header(req, "Authorization");
        const char *apikey = tx__http_req_header(req, "api-key");
        int ok = (apikey != NULL && strcmp(apikey, c->expect_key) == 0) ||
                 (auth != NULL && strncmp(auth, "Bearer ", 7) == 0 &&
                  strcmp(auth + 7, c->expect_key) == 0);
        if (!ok) {
            bump(m->by_outcome, "bad_key");
            tx__http_respond_error(req, 401, "invalid_request_error", "invalid_api_key",
                                   "Incorrect API key provided (tenax mock --expect-key).", NULL,
                                   0);
            return 1;
        }
    }
    for (size_t i = 0; i < c->nexpect_headers; i++) {
        const char *colon = strchr(c->expect_headers[i], ':');
        char name[128];
        size_t nl = (size_t)(colon - c->expect_headers[i]);
        if (nl >= sizeof name) nl = sizeof name - 1;
        memcpy(name, c->expect_headers[i], nl);
        name[nl] = '\0';
        const char *want = colon + 1;
        while (*want == ' ')
            want++;
        const char *got = tx__http_req_header(req, name);
        if (got == NULL || strcmp(got, want) != 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "missing header %.100s (tenax mock --expect-header)", name);
            bump(m->by_outcome, "bad_header");
            tx__http_respond_error(req, 400, "invalid_request_error", "missing_header", msg, NULL,
                                   0);
            return 1;
        }
    }
    for (size_t i = 0; i < c->nexpect_query; i++) {
        const char *q = tx__http_req_query(req);
        size_t wl = strlen(c->expect_query[i]);
        const char *p = q;
        int found = 0;
        while (p != NULL && *p) {
            if (strncmp(p, c->expect_query[i], wl) == 0 && (p[wl] == '\0' || p[wl] == '&'))
                found = 1;
            p = strchr(p, '&');
            if (p) p++;
        }
        if (!found) {
            bump(m->by_outcome, "bad_query");
            tx__http_respond_error(req, 400, "invalid_request_error", "missing_query",
                                   "missing query parameter (tenax mock --expect-query)", NULL, 0);
            return 1;
        }
    }
    if (c->nmodels > 0) {
        int served = is_down(m, model);
        for (size_t i = 0; i < c->nmodels && !served; i++)
            served = strcmp(c->models[i], model) == 0;
        if (!served) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "The model `%.100s` does not exist or you do not have access to it.", model);
            bump(m->by_outcome, "model_not_found");
            tx__http_respond_error(req, 404, "invalid_request_error", "model_not_found", msg, NULL,
                                   0);
            return 1;
        }
    }
    return 0;
}

/* The scripted outcome of this request, if it carries "tenax_mock". Returns 1 with *k set, 0
 * when not scripted, -1 after answering a 400 for a bad script. */
static int scripted(tx_mock_t *m, tx_http_req_t *req, const json_t *body, tx_mock_kind_t *k)
{
    json_t *tm = json_object_get(body, "tenax_mock");
    if (tm == NULL) return 0;
    const char *id = json_string_value(json_object_get(tm, "id"));
    json_t *script = json_object_get(tm, "script");
    if (id == NULL || !json_is_array(script) || json_array_size(script) == 0) {
        tx__http_respond_error(
            req, 400, "invalid_request_error", "bad_mock_script",
            "tenax_mock needs {\"id\": string, \"script\": [kinds...]} with at "
            "least one entry, e.g. {\"id\":\"case-1\",\"script\":[\"500\",\"ok\"]}.",
            NULL, 0);
        return -1;
    }
    json_t *pos = json_object_get(m->script_pos, id);
    json_int_t n = pos ? json_integer_value(pos) : 0;
    json_object_set_new(m->script_pos, id, json_integer(n + 1));
    bump(m->by_script, id);
    size_t idx = (size_t)n < json_array_size(script) ? (size_t)n : json_array_size(script) - 1;
    const char *name = json_string_value(json_array_get(script, idx));
    int kind = tx__mock_kind_from_name(name);
    if (kind < 0) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "Unknown tenax_mock script entry '%.60s'; use ok or one of: 500 502 503 504 429 "
                 "1302 quota 401 404 timeout reset slow err200 empty badjson midstream streamfail.",
                 name ? name : "(not a string)");
        tx__http_respond_error(req, 400, "invalid_request_error", "bad_mock_script", msg, NULL, 0);
        return -1;
    }
    *k = (tx_mock_kind_t)kind;
    return 1;
}

static void completion(tx_mock_t *m, tx_http_req_t *req, endpoint_t ep)
{
    m->total++;
    size_t len;
    const char *raw = tx__http_req_body(req, &len);
    json_error_t jerr;
    json_t *body = json_loadb(raw, len, 0, &jerr);
    if (!json_is_object(body)) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "We could not parse the JSON body of your request (%.150s). The OpenAI API "
                 "expects a JSON object.",
                 body ? "not an object" : jerr.text);
        json_decref(body);
        bump(m->by_outcome, "bad_request");
        tx__http_respond_error(req, 400, "invalid_request_error", NULL, msg, NULL, 0);
        return;
    }
    const char *model = json_string_value(json_object_get(body, "model"));
    if (model == NULL || model[0] == '\0') {
        json_decref(body);
        bump(m->by_outcome, "bad_request");
        tx__http_respond_error(req, 400, "invalid_request_error", NULL,
                               "you must provide a model parameter", NULL, 0);
        return;
    }
    if (refused(m, req, model)) {
        json_decref(body);
        return;
    }
    bump(m->by_model, model);
    int stream = json_is_true(json_object_get(body, "stream"));
    tx_mock_kind_t k = TX_MOCK_OK;
    int s = 0;
    if (m->cfg.max_inflight > 0 && m->nlive >= m->cfg.max_inflight) {
        /* over the concurrency cap, as Z.AI: refused at once; no script step or draw is used */
        m->over_cap++;
        bump(m->by_outcome, tx__mock_kind_name(TX_MOCK_E1302));
        answer(m, req, TX_MOCK_E1302, ep, body, model, stream, NULL);
        json_decref(body);
        return;
    }
    if (m->nlive + 1 > m->peak) m->peak = m->nlive + 1; /* this one, while it is answered */
    if (is_down(m, model))
        k = TX_MOCK_DOWN;
    else if ((s = scripted(m, req, body, &k)) < 0) {
        bump(m->by_outcome, "bad_request");
        json_decref(body);
        return;
    } else if (s == 0)
        k = tx_mock_draw(m);
    bump(m->by_outcome, tx__mock_kind_name(k));
    if (m->cfg.latency_ms > 0 && k != TX_MOCK_TIMEOUT) {
        ctx_t *c = ctx_new(m, req, k, ep, body, model, stream);
        if (c)
            uv_timer_start(&c->timer, on_latency, m->cfg.latency_ms, 0);
        else
            tx__http_respond_error(req, 500, "server_error", NULL, "mock: out of memory", NULL, 0);
    } else {
        answer(m, req, k, ep, body, model, stream, NULL);
    }
    json_decref(body);
}

static void route_chat(tx_http_req_t *req, void *ud)
{
    completion(ud, req, EP_CHAT);
}
static void route_completions(tx_http_req_t *req, void *ud)
{
    completion(ud, req, EP_COMPLETIONS);
}
static void route_embeddings(tx_http_req_t *req, void *ud)
{
    completion(ud, req, EP_EMBEDDINGS);
}
static void route_responses(tx_http_req_t *req, void *ud)
{
    completion(ud, req, EP_RESPONSES);
}

static void route_models(tx_http_req_t *req, void *ud)
{
    tx_mock_t *m = ud;
    m->total++;
    static const char *const models[] = {"gpt-4o-mini", "gpt-4o", "glm-4-flash",
                                         "text-embedding-3-small", "mock-small"};
    json_t *data = json_array();
    for (size_t i = 0; i < m->cfg.nmodels; i++)
        json_array_append_new(data,
                              json_pack("{s:s,s:s,s:i,s:s}", "id", m->cfg.models[i], "object",
                                        "model", "created", 1700000000, "owned_by", "tenax-mock"));
    for (size_t i = 0; m->cfg.nmodels == 0 && i < sizeof models / sizeof models[0]; i++)
        json_array_append_new(data,
                              json_pack("{s:s,s:s,s:i,s:s}", "id", models[i], "object", "model",
                                        "created", 1700000000, "owned_by", "tenax-mock"));
    for (size_t i = 0; i < m->cfg.ndown; i++)
        json_array_append_new(data,
                              json_pack("{s:s,s:s,s:i,s:s}", "id", m->cfg.down_models[i], "object",
                                        "model", "created", 1700000000, "owned_by", "tenax-mock"));
    json_t *doc = json_pack("{s:s,s:o}", "object", "list", "data", data);
    respond_json(req, 200, doc, NULL, 0);
    json_decref(doc);
}

static void route_stats(tx_http_req_t *req, void *ud)
{
    tx_mock_t *m = ud;
    json_t *doc = json_pack("{s:I,s:O,s:O,s:O,s:I,s:I,s:I}", "requests", m->total, "by_model",
                            m->by_model, "by_outcome", m->by_outcome, "by_script", m->by_script,
                            "inflight", (json_int_t)m->nlive, "inflight_peak", (json_int_t)m->peak,
                            "over_capacity", m->over_cap);
    respond_json(req, 200, doc, NULL, 0);
    json_decref(doc);
}

static void route_reset(tx_http_req_t *req, void *ud)
{
    tx_mock_t *m = ud;
    m->total = 0;
    m->over_cap = 0;
    m->peak = m->nlive;
    json_object_clear(m->by_model);
    json_object_clear(m->by_outcome);
    json_object_clear(m->by_script);
    json_object_clear(m->script_pos);
    static const char body[] = "{\"status\":\"reset\"}";
    tx__http_respond(req, 200, &json_ct, 1, body, sizeof body - 1);
}

static const tx_route_t mock_routes[] = {
    {"POST", "/v1/chat/completions", route_chat}, {"POST", "/v1/completions", route_completions},
    {"POST", "/v1/embeddings", route_embeddings}, {"POST", "/v1/responses", route_responses},
    {"GET", "/v1/models", route_models},          {"GET", "/mock/stats", route_stats},
    {"POST", "/mock/reset", route_reset},         {NULL, NULL, NULL},
};

tx_err_t tx__mock_routes(tx_mock_t *m, tx_router_t *r)
{
    if (m == NULL || r == NULL) return TX_EINVAL;
    tx_err_t rc = tx__router_add_table(r, mock_routes, m);
    if (rc == TX_EOK) rc = tx__router_add(r, "GET", "/healthz", tx__route_healthz, NULL);
    return rc;
}

tx_mock_t *tx__mock_new(uv_loop_t *loop, const tx_mock_config_t *cfg)
{
    if (loop == NULL || cfg == NULL) return NULL;
    tx_mock_t *m = calloc(1, sizeof *m);
    if (m == NULL) return NULL;
    m->loop = loop;
    m->cfg = *cfg;
    m->rng = cfg->seed;
    m->by_model = json_object();
    m->by_outcome = json_object();
    m->by_script = json_object();
    m->script_pos = json_object();
    if (!m->by_model || !m->by_outcome || !m->by_script || !m->script_pos) {
        tx__mock_destroy(m);
        return NULL;
    }
    return m;
}

void tx__mock_destroy(tx_mock_t *m)
{
    if (m == NULL) return;
    json_decref(m->by_model);
    json_decref(m->by_outcome);
    json_decref(m->by_script);
    json_decref(m->script_pos);
    free(m);
}
