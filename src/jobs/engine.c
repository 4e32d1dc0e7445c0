/* The job engine's scheduler: claims, per-item attempt loop, decisions, pause and probe. Every
 * store call goes through tx_storeq; everything else runs on the loop thread. Design and the
 * lease margin: docs/jobs.md. */
#include "jobs/engine.h"

#include <assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "jobs/params.h"
#include "store/storeq.h"
#include "obs/log.h"
#include "tenax/extract.h"
#include "tenax/policy.h"
#include "tenax/rng.h"

typedef struct task_entry {
    struct task_entry *next;
    tx_task_t t;
    int parser; /* tx_parser_t, -1 unknown */
} task_entry_t;

typedef enum { AFTER_FINISH, AFTER_INLINE, AFTER_DROP } after_t;

typedef struct job job_t;

struct tx_jobs {
    uv_loop_t *loop;
    tx_storeq_t *q;
    int own_q;
    int q_closing, q_done;
    struct tx_config *cfg;
    tx_jobs_params_t p;
    tx_admission_t *adm;
    int own_adm;
    tx_jobs_port_t port;
    struct tx_config *(*config_get)(void *);
    void *config_ud;
    char worker[64];
    tx_ms_t poll_ms;
    tx_rng_t rng;
    void (*on_item)(void *, tx_item_status_t);
    void (*on_idle)(void *, const tx_jobs_idle_t *);
    void (*on_attempt)(void *, const tx_jobs_attempt_event_t *);
    void *ud;

    uv_timer_t due_timer, poll_timer, probe_timer;
    int handles_open;
    int started;    /* reclaim + pause read done */
    int claiming;   /* a claim is in the store */
    int due_query;  /* a next_due is in the store */
    int probing;    /* the probe item is in hand */
    int probe_done; /* a probe ran since start (idle is reported while paused only after) */
    int stats_query;
    int pause_writes; /* our pause changes on their way to the store: no claim reads it meanwhile */
    int again;        /* a kick arrived during a claim */
    int closing;
    void (*closed)(void *);
    void *closed_ud;

    job_t *jobs; /* in hand */
    task_entry_t *tasks;
    tx_jobs_stats_t st;
};

struct job {
    tx_jobs_t *e;
    job_t *prev, *next;
    tx_item_t it;
    const task_entry_t *task;
    struct tx_config *cfg;
    tx_jobs_params_t p;
    tx_policy_t pol;
    tx_call_state_t cs;
    int probe;
    tx_adm_waiter_t w;
    int waiting_slot, has_slot;
    void *att;
    uv_timer_t timer;
    int timer_active;
    /* the current attempt */
    char model[256];
    char endpoint[64];
    char provider[40];
    int avoid; /* the endpoint the next attempt moves off (-1: none) */
    int attempt_n;
    char *req;
    /* store work in/out */
    int rc;
    tx_error_t err;
    tx_history_row_t rec;
    int do_record;
    tx_item_outcome_t out;
    int do_finish;
    int pause_op;      /* 1 set, -1 clear, 0 none */
    int pause_writing; /* this turn's end carries a pause change (counted in pause_writes) */
    char pause_reason[256];
    char *result;
    char errtext[480];
    after_t after;
    tx_ms_t inline_ms;
};

static void pump(tx_jobs_t *e);
static void job_next(job_t *j);
static void maybe_closed(tx_jobs_t *e);
static void inline_cb(uv_timer_t *t);
static void query_due(tx_jobs_t *e);
static void due_cb(uv_timer_t *t);

/* ---- building a policy from a config snapshot ------------------------------------------- */

static void policy_for(job_t *j)
{
    const tx_jobs_params_t *c = &j->p;
    const char *primary =
        (j->task && j->task->t.model && j->task->t.model[0]) ? j->task->t.model : c->model;
    tx_policy_init(&j->pol, primary);
    tx_schedule_t *s = &j->pol.schedule;
    s->n_fallbacks = 0;
    for (unsigned i = 0; i < c->n_fallbacks && i < TX_SCHEDULE_MAX_FALLBACKS; i++)
        s->fallbacks[s->n_fallbacks++] = c->fallbacks[i];
    s->retry_max = (unsigned)c->retry_max;
    s->fallback_attempts = (unsigned)c->fallback_attempts;
    s->budget = (unsigned)c->max_attempts;
    j->pol.backoff.base_ms = c->retry_delay_ms;
    j->pol.backoff.cap_ms = c->retry_max_delay_ms;
    j->pol.backoff.jitter = (tx_jitter_t)c->jitter;
    j->pol.retry_after_max_ms = TX_JOBS_INLINE_WAIT_MS;
    j->pol.deadline_ms = 0;
}

/* ---- jobs in hand --------------------------------------------------------------------------- */

static void job_timer_closed(uv_handle_t *h)
{
    job_t *j = h->data;
    tx_jobs_t *e = j->e;
    e->handles_open--;
    tx__item_clear(&j->it);
    tx__jobs_cfg_unref(j->cfg);
    free(j->req);
    free(j->result);
    free(j);
    maybe_closed(e);
}

static void job_free(job_t *j)
{
    tx_jobs_t *e = j->e;
    if (j->prev)
        j->prev->next = j->next;
    else
        e->jobs = j->next;
    if (j->next) j->next->prev = j->prev;
    if (e->st.held) e->st.held--;
    if (j->probe) e->probing = 0;
    uv_close((uv_handle_t *)&j->timer, job_timer_closed);
}

/* The one transition function: the item in hand leaves `processing` for `to`. Checks the table,
 * logs old -> new and counts; the write itself is the caller's store work. An illegal change is
 * a bug in the engine: it aborts a debug build (every test run under ASan is one) and is refused
 * in a release build (logged, nothing written: the lease expires and the item is claimed again). */
static void transition(job_t *j, tx_item_status_t to)
{
    if (!tx__jobs_transition_ok(j->it.status, to)) {
        tx__log(TX_LOG_ERROR, "jobs", "illegal transition item=%lld %s -> %s", (long long)j->it.id,
                tx__item_status_name(j->it.status), tx__item_status_name(to));
        assert(!"illegal item transition (jobs/lifecycle.c)");
        return;
    }
    tx__log(TX_LOG_DEBUG, "jobs", "item=%lld %s -> %s", (long long)j->it.id,
            tx__item_status_name(j->it.status), tx__item_status_name(to));
    j->out.status = to;
    j->do_finish = 1;
    j->after = AFTER_FINISH;
}

/* ---- store work ------------------------------------------------------------------------------ */

/* begin_attempt for every job of a group (store executor: several queued at once), written
 * together (one statement and commit on PostgreSQL); each job gets its own answer. */
static void w_begin(tx_store_t *s, void **args, size_t n)
{
    tx_store_begin_t reqs[TX_STOREQ_GROUP_MAX];
    for (size_t i = 0; i < n; i++) {
        job_t *j = args[i];
        reqs[i] = (tx_store_begin_t){.id = j->it.id,
                                     .lease = j->it.lease,
                                     .max_attempts = (int)j->p.max_attempts,
                                     .model = j->model};
    }
    tx__store_begin_attempts(s, reqs, n, tx__clock_wall_ms());
    for (size_t i = 0; i < n; i++) {
        job_t *j = args[i];
        j->rc = reqs[i].rc;
        tx__store_error_copy(&j->err, &reqs[i].err);
        j->attempt_n = reqs[i].attempt_n;
    }
}

/* The end of one job's turn: a pause write, a lone history row, or the finish. */
static void w_end_one(tx_store_t *s, job_t *j)
{
    j->rc = TX_EOK;
    if (j->pause_op) {
        int rc = tx__store_pause_set(s, j->pause_op > 0, j->pause_op > 0 ? j->pause_reason : NULL,
                                     tx__clock_wall_ms(), NULL);
        if (rc != TX_EOK)
            tx__log(TX_LOG_ERROR, "jobs", "could not persist the pause: %s", tx_strerror(rc));
    }
    /* The common path (an attempt that ends the claim): history row and finish in one write
     * transaction; record_attempt alone only when the claim goes on. */
    if (j->do_record && !j->do_finish)
        j->rc = tx__store_record_attempt(s, j->it.id, j->it.lease, &j->rec, &j->err);
    if (j->rc == TX_EOK && j->do_finish) {
        j->out.attempt = j->do_record ? &j->rec : NULL;
        j->rc = tx__store_finish(s, j->it.id, j->it.lease, &j->out, tx__clock_wall_ms(), &j->err);
        j->out.attempt = NULL;
    }
}

/* The ends of a group of jobs: the plain finishes (with their history rows) are written
 * together (group commit: one statement on PostgreSQL), the rest one by one, in order. */
static void w_end(tx_store_t *s, void **args, size_t n)
{
    tx_store_finish_t reqs[TX_STOREQ_GROUP_MAX];
    job_t *in[TX_STOREQ_GROUP_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        job_t *j = args[i];
        if (j->pause_op || !j->do_finish) {
            w_end_one(s, j);
            continue;
        }
        j->out.attempt = j->do_record ? &j->rec : NULL;
        reqs[k] = (tx_store_finish_t){.id = j->it.id, .lease = j->it.lease, .outcome = &j->out};
        in[k++] = j;
    }
    tx__store_finish_many(s, reqs, k, tx__clock_wall_ms());
    for (size_t i = 0; i < k; i++) {
        in[i]->out.attempt = NULL;
        in[i]->rc = reqs[i].rc;
        tx__store_error_copy(&in[i]->err, &reqs[i].err);
    }
}

static void job_end_done(void *arg);

static void submit_end(job_t *j)
{
    if (tx__storeq_submit_group(j->e->q, w_end, job_end_done, j) != TX_EOK) {
        job_free(j);
        return;
    }
    j->pause_writing = j->pause_op != 0;
    j->e->pause_writes += j->pause_writing;
}

/* Finish without an attempt record (budget used, hand back, interrupted). */
static void finish_now(job_t *j, tx_item_status_t to, const char *error, int cls, tx_ms_t ra)
{
    memset(&j->out, 0, sizeof j->out);
    j->do_record = 0;
    j->out.error_class = cls;
    j->out.retry_after = ra;
    snprintf(j->errtext, sizeof j->errtext, "%s", error ? error : "");
    j->out.error = error ? j->errtext : NULL;
    transition(j, to);
    submit_end(j);
}

static void job_end_done(void *arg)
{
    job_t *j = arg;
    tx_jobs_t *e = j->e;
    j->do_record = 0;
    e->pause_writes -= j->pause_writing;
    j->pause_writing = 0;
    if (j->rc == TX_ECONFLICT) {
        e->st.conflicts++;
        tx__log(TX_LOG_WARN, "jobs", "item=%lld lease lost: dropped", (long long)j->it.id);
        j->after = AFTER_DROP;
    } else if (j->rc != TX_EOK) {
        tx__log(TX_LOG_ERROR, "jobs", "item=%lld store: %s", (long long)j->it.id,
                j->err.msg ? j->err.msg : tx_strerror(j->rc));
        j->after = AFTER_DROP;
    }
    if (j->after == AFTER_INLINE && !e->closing) {
        e->st.retries++;
        j->timer_active = 1;
        j->do_finish = 0;
        /* wait without a slot, then the next attempt */
        uv_timer_start(&j->timer, inline_cb, (uint64_t)j->inline_ms, 0);
        return;
    }
    if (j->after == AFTER_INLINE) { /* closing: hand it back due now, attempts kept */
        finish_now(j, TX_ITEM_RETRYING, "interrupted (shutdown)", -1, tx__clock_wall_ms());
        return;
    }
    if (j->after == AFTER_FINISH && j->rc == TX_EOK) {
        tx_item_status_t st = j->out.status;
        if (st == TX_ITEM_SUCCESS)
            e->st.succeeded++;
        else if (st == TX_ITEM_FAILED)
            e->st.failed++;
        else if (st == TX_ITEM_RETRYING)
            e->st.parked++;
        else if (st == TX_ITEM_PENDING)
            e->st.handed_back++;
        if (e->on_item) e->on_item(e->ud, st);
    }
    job_free(j);
    pump(e);
}

static void inline_cb(uv_timer_t *t)
{
    job_t *j = t->data;
    j->timer_active = 0;
    if (j->e->closing) {
        finish_now(j, TX_ITEM_RETRYING, "interrupted (shutdown)", -1, tx__clock_wall_ms());
        return;
    }
    job_next(j);
}

/* ---- one attempt ----------------------------------------------------------------------------- */

static char *render(const char *tmpl, const char *text)
{
    const char *ph = "{{text}}";
    size_t phl = strlen(ph), tl = strlen(text), n = 0;
    for (const char *p = strstr(tmpl, ph); p; p = strstr(p + phl, ph))
        n++;
    size_t cap = strlen(tmpl) + n * tl + 1;
    char *out = malloc(cap), *o = out;
    if (out == NULL) return NULL;
    const char *p = tmpl, *q;
    while ((q = strstr(p, ph)) != NULL) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, text, tl);
        o += tl;
        p = q + phl;
    }
    size_t rest = strlen(p);
    memcpy(o, p, rest + 1);
    return out;
}

static char *build_request(const job_t *j)
{
    const tx_task_t *t = &j->task->t;
    char *user =
        render(t->user_template ? t->user_template : "{{text}}", j->it.text ? j->it.text : "");
    if (user == NULL) return NULL;
    json_t *msgs = json_array();
    if (t->system_prompt && t->system_prompt[0])
        json_array_append_new(
            msgs, json_pack("{s:s,s:s}", "role", "system", "content", t->system_prompt));
    json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", user));
    free(user);
    json_t *body = json_pack("{s:s,s:o}", "model", j->model, "messages", msgs);
    if (body && t->response_format && t->response_format[0]) {
        json_t *rf = json_loads(t->response_format, 0, NULL);
        if (rf) json_object_set_new(body, "response_format", rf);
    }
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return s;
}

/* The content of choices[0].message.content through the task's parser: JSON text of the result,
 * or NULL with `why` filled (→ invalid_output). */
static char *parse_output(const job_t *j, const char *body, size_t len, char *why, size_t cap)
{
    json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *content = json_object_get(
        json_object_get(json_array_get(json_object_get(doc, "choices"), 0), "message"), "content");
    if (!json_is_string(content)) {
        snprintf(why, cap, "no content to parse");
        json_decref(doc);
        return NULL;
    }
    tx_error_t err = {0};
    int parser = j->task->parser < 0 ? TX_PARSER_TEXT : j->task->parser;
    json_t *v = tx_extract_run((tx_parser_t)parser, json_string_value(content),
                               json_string_length(content), &err);
    json_decref(doc);
    if (v == NULL) {
        snprintf(why, cap, "%s parser rejected the output: %s",
                 j->task->t.parser ? j->task->t.parser : "text", err.msg ? err.msg : "no result");
        return NULL;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (s == NULL) snprintf(why, cap, "out of memory");
    return s;
}

static void decide(job_t *j, tx_class_t cls, const tx_classification_t *c, int status)
{
    tx_jobs_t *e = j->e;
    tx_ms_t now = tx__clock_wall_ms();
    memset(&j->out, 0, sizeof j->out);
    j->out.error_class = -1;
    if (cls == TX_CLASS_OK) {
        j->out.result = j->result;
        j->out.model = j->model;
        j->out.prompt_version = j->task->t.version;
        if (j->probe && e->st.paused) {
            e->st.paused = 0;
            e->st.pause_reason[0] = '\0';
            j->pause_op = -1;
            tx__log(TX_LOG_INFO, "jobs", "probe succeeded: job work resumed");
        }
        transition(j, TX_ITEM_SUCCESS);
        return;
    }
    if (c->message[0])
        snprintf(j->errtext, sizeof j->errtext, "%s: %s", tx_class_name(cls), c->message);
    else
        snprintf(j->errtext, sizeof j->errtext, "%s (HTTP %d)", tx_class_name(cls), status);
    j->out.error = j->errtext;
    j->out.error_class = (int)cls;
    if (tx_class_pauses_jobs(cls)) {
        if (!e->st.paused) {
            e->st.paused = 1;
            snprintf(e->st.pause_reason, sizeof e->st.pause_reason, "%.200s", j->errtext);
            tx__log(TX_LOG_WARN, "jobs", "job work paused: %s", j->errtext);
        }
        j->pause_op = 1;
        e->probe_done = 1; /* paused by work in hand: idle may be reported */
        snprintf(j->pause_reason, sizeof j->pause_reason, "%s", e->st.pause_reason);
        transition(j, TX_ITEM_PENDING);
        return;
    }
    tx_decision_t d;
    tx_outcome_t o = {cls, c->retry_after_ms > 0 ? c->retry_after_ms : 0};
    if (tx_policy_next(&j->pol, &j->cs, &o, now, &e->rng, &d) != TX_EOK)
        d.action = TX_ACT_STOP, d.reason = TX_REASON_EXHAUSTED;
    if (d.action == TX_ACT_STOP && d.reason != TX_REASON_RETRY_AFTER_TOO_LONG) {
        transition(j, TX_ITEM_FAILED);
        return;
    }
    tx_ms_t wait = d.delay_ms;
    if (tx_class_parks_jobs(cls)) {
        unsigned n = j->attempt_n > 0 ? (unsigned)j->attempt_n - 1 : 0;
        wait = tx_park_delay(j->p.park_base_ms, j->p.park_max_ms, n, o.retry_after_ms);
    } else if (d.action == TX_ACT_RETRY && !j->probe && wait <= TX_JOBS_INLINE_WAIT_MS &&
               now + wait + j->p.timeout_ms + TX_JOBS_LEASE_MARGIN_MS < j->it.lease_until &&
               !e->st.paused) {
        if (d.model_changed) e->st.fallbacks++;
        tx__log(TX_LOG_INFO, "ai][retry", "attempt=%u model=%s endpoint=%s class=%s delay_ms=%lld",
                d.attempt, d.model ? d.model : j->model, j->endpoint, tx_class_name(cls),
                (long long)wait);
        j->after = AFTER_INLINE;
        j->inline_ms = wait;
        j->do_finish = 0;
        return;
    }
    j->out.retry_after = now + wait;
    tx__log(TX_LOG_INFO, "jobs", "item=%lld parked class=%s delay_ms=%lld", (long long)j->it.id,
            tx_class_name(cls), (long long)wait);
    transition(j, TX_ITEM_RETRYING);
}

static void on_attempt(void *ud, const tx_jobs_attempt_t *r)
{
    job_t *j = ud;
    tx_jobs_t *e = j->e;
    j->att = NULL;
    if (e->st.in_flight) e->st.in_flight--;
    tx_classification_t c = r->c;
    free(j->result);
    j->result = NULL;
    if (c.cls == TX_CLASS_OK) {
        j->result = parse_output(j, r->body, r->len, c.message, sizeof c.message);
        if (j->result == NULL) c.cls = TX_CLASS_INVALID_OUTPUT;
    }
    snprintf(j->endpoint, sizeof j->endpoint, "%s", r->endpoint ? r->endpoint : "0");
    if (j->attempt_n == 1 && e->port.first_attempt != NULL)
        e->port.first_attempt(e->port.self, (int)strtol(j->endpoint, NULL, 10));
    snprintf(j->provider, sizeof j->provider, "%s", r->provider ? r->provider : "");
    /* after a failure counted toward failover, or a push-back, the next attempt moves off this
     * endpoint when another one serving the model is healthy */
    j->avoid = (tx_class_counts_failover(c.cls) || c.cls == TX_CLASS_RATE_LIMIT ||
                c.cls == TX_CLASS_CONCURRENCY)
                   ? (int)strtol(j->endpoint, NULL, 10)
                   : -1;
    j->rec = (tx_history_row_t){.n = j->attempt_n,
                                .model = j->model,
                                .endpoint = j->endpoint,
                                .provider = j->provider[0] ? j->provider : NULL,
                                .cls = (int)c.cls,
                                .http_status = r->status,
                                .latency_ms = r->latency_ms,
                                .at = tx__clock_wall_ms()};
    j->do_record = 1;
    j->do_finish = 0;
    j->pause_op = 0;
    decide(j, c.cls, &c, r->status);
    if (e->on_attempt) {
        tx_jobs_attempt_event_t ev = {.endpoint = (int)strtol(j->endpoint, NULL, 10),
                                      .model = j->model,
                                      .cls = c.cls,
                                      .latency_ms = r->latency_ms,
                                      .attempt = j->attempt_n,
                                      .delay_ms =
                                          j->after == AFTER_INLINE ? j->inline_ms
                                          : (j->do_finish && j->out.status == TX_ITEM_RETRYING)
                                              ? j->out.retry_after - tx__clock_wall_ms()
                                              : -1};
        e->on_attempt(e->ud, &ev);
    }
    /* the slot goes back after the decision, so a pause is in force before the next waiter
     * is granted it */
    if (j->has_slot) {
        j->has_slot = 0;
        tx__admission_release(e->adm, (tx_ms_t)uv_now(e->loop));
    }
    submit_end(j);
}

static void start_attempt(job_t *j)
{
    tx_jobs_t *e = j->e;
    if (e->closing || (e->st.paused && !j->probe)) {
        if (j->has_slot) {
            j->has_slot = 0;
            tx__admission_release(e->adm, (tx_ms_t)uv_now(e->loop));
        }
        if (e->closing)
            finish_now(j, TX_ITEM_RETRYING, "interrupted (shutdown)", -1, tx__clock_wall_ms());
        else
            finish_now(j, TX_ITEM_PENDING, "job work paused", -1, 0);
        return;
    }
    free(j->req);
    j->req = build_request(j);
    e->st.attempts++;
    e->st.in_flight++;
    tx_classification_t why;
    tx_classify_transport(TX_TRANSPORT_CONNECT, "the attempt could not start", &why);
    if (j->req)
        j->att = e->port.start(e->port.self, j->model, j->req, strlen(j->req),
                               (long)j->p.timeout_ms, j->avoid, on_attempt, j, &why);
    if (j->att == NULL) {
        tx_jobs_attempt_t r = {.endpoint = "0", .c = why};
        on_attempt(j, &r);
    }
}

static void slot_granted(tx_adm_waiter_t *w, void *ud)
{
    (void)w;
    job_t *j = ud;
    j->waiting_slot = 0;
    j->has_slot = 1;
    start_attempt(j);
}

/* The admission's room callback: an endpoint serving the item's model is below its adaptive
 * limit. */
static int job_room(tx_adm_waiter_t *w, void *ud)
{
    (void)w;
    job_t *j = ud;
    return j->e->port.room(j->e->port.self, j->model);
}

static void begin_done(void *arg)
{
    job_t *j = arg;
    tx_jobs_t *e = j->e;
    if (j->rc == TX_ERANGE) {
        finish_now(j, TX_ITEM_FAILED, "attempt budget used up (JOB_MAX_ATTEMPTS)",
                   j->it.error_class, 0);
        return;
    }
    if (j->rc != TX_EOK) {
        if (j->rc == TX_ECONFLICT) e->st.conflicts++;
        tx__log(TX_LOG_WARN, "jobs", "item=%lld begin_attempt: %s: dropped", (long long)j->it.id,
                j->err.msg ? j->err.msg : tx_strerror(j->rc));
        job_free(j);
        pump(e);
        return;
    }
    if (e->closing) {
        finish_now(j, TX_ITEM_RETRYING, "interrupted (shutdown)", -1, tx__clock_wall_ms());
        return;
    }
    tx_adm_result_t ar = tx__admission_acquire_room(e->adm, TX_ADM_JOB, &j->w, slot_granted, j,
                                                    e->port.room != NULL ? job_room : NULL,
                                                    (tx_ms_t)uv_now(e->loop));
    if (ar == TX_ADM_GRANTED) {
        j->has_slot = 1;
        start_attempt(j);
    } else {
        j->waiting_slot = 1;
    }
}

/* The next attempt of an item in hand: model from the schedule, then begin_attempt. */
static void job_next(job_t *j)
{
    tx_jobs_t *e = j->e;
    if (e->closing) {
        finish_now(j, TX_ITEM_RETRYING, "interrupted (shutdown)", -1, tx__clock_wall_ms());
        return;
    }
    if (e->st.paused && !j->probe) {
        finish_now(j, TX_ITEM_PENDING, "job work paused", -1, 0);
        return;
    }
    const char *m = tx_policy_model(&j->pol, &j->cs);
    if (m == NULL) m = j->p.model;
    /* a model down on every endpoint serving it: the next model of the chain that is not, at
     * once and without spending an attempt (the whole chain down: stay) */
    if (e->port.model_available != NULL && !e->port.model_available(e->port.self, m)) {
        unsigned nm = tx_schedule_models(&j->pol.schedule);
        for (unsigned idx = j->cs.model_idx + 1; idx < nm; idx++) {
            const char *n = tx_schedule_model_name(&j->pol.schedule, idx);
            if (n == NULL || !e->port.model_available(e->port.self, n)) continue;
            tx__log(TX_LOG_INFO, "ai][route",
                    "item=%lld model=%s is down on every endpoint serving it: %s next",
                    (long long)j->it.id, m, n);
            j->cs.model_idx = idx;
            j->cs.on_model = 1;
            m = n;
            break;
        }
    }
    snprintf(j->model, sizeof j->model, "%s", m);
    /* a retry asks its provider's retry budget first: when spent, the item is parked for its
     * backoff without spending an attempt (never failed for it) */
    if (!j->probe && (j->attempt_n > 0 || j->it.attempts > 0) && e->port.retry_ok != NULL &&
        !e->port.retry_ok(e->port.self, j->model,
                          j->endpoint[0] ? (int)strtol(j->endpoint, NULL, 10) : -1)) {
        unsigned n = (unsigned)(j->attempt_n > 0 ? j->attempt_n : j->it.attempts);
        tx_ms_t wait = j->p.retry_delay_ms;
        for (unsigned i = 1; i < n && i < 20 && wait < j->p.retry_max_delay_ms; i++)
            wait *= 2;
        if (wait > j->p.retry_max_delay_ms) wait = j->p.retry_max_delay_ms;
        if (wait < 1000) wait = 1000; /* the budget's window moves by the second */
        e->st.budget_parked++;
        tx__log(TX_LOG_INFO, "jobs", "item=%lld parked class=retry_budget delay_ms=%lld",
                (long long)j->it.id, (long long)wait);
        finish_now(j, TX_ITEM_RETRYING, "retry budget exhausted: parked, no attempt spent",
                   j->it.error_class, tx__clock_wall_ms() + wait);
        return;
    }
    if (tx__storeq_submit_group(e->q, w_begin, begin_done, j) != TX_EOK) job_free(j);
}

static void job_start(tx_jobs_t *e, tx_item_t *it, const task_entry_t *task, int probe)
{
    job_t *j = calloc(1, sizeof *j);
    if (j == NULL) {
        tx__item_clear(it);
        return;
    }
    j->e = e;
    j->avoid = -1;
    j->it = *it;
    memset(it, 0, sizeof *it);
    j->task = task;
    j->cfg = tx__jobs_cfg_ref(e->cfg);
    j->p = e->p;
    j->probe = probe;
    uv_timer_init(e->loop, &j->timer);
    e->handles_open++;
    j->timer.data = j;
    j->next = e->jobs;
    if (e->jobs) e->jobs->prev = j;
    e->jobs = j;
    e->st.held++;
    if (probe) e->probing = 1;
    if (task == NULL) {
        finish_now(j, TX_ITEM_FAILED, "unknown task", TX_CLASS_BAD_REQUEST, 0);
        return;
    }
    policy_for(j);
    if (tx_policy_resume(&j->pol, &j->cs, (unsigned)(j->it.attempts > 0 ? j->it.attempts : 0),
                         tx__clock_wall_ms()) != TX_EOK) {
        finish_now(j, TX_ITEM_FAILED,
                   j->cs.stats.final == TX_REASON_BUDGET
                       ? "attempt budget used up (JOB_MAX_ATTEMPTS)"
                       : "every model of the schedule was tried",
                   j->it.error_class, 0);
        return;
    }
    if (j->cs.model_idx > 0 && j->cs.on_model == 1) e->st.fallbacks++;
    job_next(j);
}

/* ---- claims ---------------------------------------------------------------------------------- */

typedef struct {
    tx_jobs_t *e;
    size_t limit;
    tx_ms_t lease_ms;
    int probe;
    int rc;
    tx_error_t err;
    tx_item_list_t list;
    tx_task_t *tasks;
    size_t ntasks;
    tx_pause_t pause; /* read just before the claim: another node may have paused the work */
    char worker[64];
} claim_t;

static void w_claim(tx_store_t *s, void *arg)
{
    claim_t *c = arg;
    tx_ms_t now = tx__clock_wall_ms();
    if (!c->probe) {
        /* The pause is shared through the store (several nodes): claim nothing while it is set. */
        c->rc = tx__store_pause_get(s, &c->pause, &c->err);
        if (c->rc != TX_EOK || c->pause.paused) return;
    }
    c->rc = tx__store_claim(s, c->worker, c->limit, now, c->lease_ms, &c->list, &c->err);
    if (c->rc != TX_EOK || c->list.n == 0) return;
    c->tasks = calloc(c->list.n, sizeof *c->tasks);
    if (c->tasks == NULL) return;
    for (size_t i = 0; i < c->list.n; i++) {
        const tx_item_t *it = &c->list.items[i];
        size_t k;
        for (k = 0; k < c->ntasks; k++)
            if (strcmp(c->tasks[k].name, it->task) == 0 && c->tasks[k].version == it->task_version)
                break;
        if (k < c->ntasks) continue;
        tx_task_t t;
        memset(&t, 0, sizeof t);
        if (tx__store_task_get(s, it->task, it->task_version, &t, NULL) == TX_EOK)
            c->tasks[c->ntasks++] = t;
    }
}

static const task_entry_t *task_lookup(tx_jobs_t *e, const char *name, int version)
{
    for (task_entry_t *t = e->tasks; t; t = t->next)
        if (strcmp(t->t.name, name) == 0 && t->t.version == version) return t;
    return NULL;
}

static void claim_done(void *arg)
{
    claim_t *c = arg;
    tx_jobs_t *e = c->e;
    e->claiming = 0;
    for (size_t k = 0; k < c->ntasks; k++) {
        if (task_lookup(e, c->tasks[k].name, c->tasks[k].version)) {
            tx__task_clear(&c->tasks[k]);
            continue;
        }
        task_entry_t *te = calloc(1, sizeof *te);
        if (te == NULL) {
            tx__task_clear(&c->tasks[k]);
            continue;
        }
        te->t = c->tasks[k];
        te->parser = tx_extract_parser_from_name(te->t.parser);
        te->next = e->tasks;
        e->tasks = te;
    }
    free(c->tasks);
    if (c->rc != TX_EOK)
        tx__log(TX_LOG_ERROR, "jobs", "claim: %s", c->err.msg ? c->err.msg : tx_strerror(c->rc));
    if (c->rc == TX_EOK && c->pause.paused && !e->st.paused && !e->closing) {
        e->st.paused = 1;
        snprintf(e->st.pause_reason, sizeof e->st.pause_reason, "%s", c->pause.reason);
        tx__log(TX_LOG_WARN, "jobs", "job work is paused (seen in the store): %s", c->pause.reason);
    }
    size_t got = c->list.n;
    for (size_t i = 0; i < c->list.n; i++) {
        tx_item_t *it = &c->list.items[i];
        /* while closing, job_start hands the item straight back (due now) */
        job_start(e, it, it->task ? task_lookup(e, it->task, it->task_version) : NULL, c->probe);
    }
    tx__item_list_free(&c->list);
    int asked = (int)c->limit;
    int probe = c->probe;
    free(c);
    if (e->closing) {
        maybe_closed(e);
        return;
    }
    if (probe) {
        e->probe_done = 1;
        if (got == 0) pump(e);
        return;
    }
    if ((int)got < asked && !e->again) {
        /* nothing more due now: find when the next one is */
        query_due(e);
        return;
    }
    e->again = 0;
    pump(e);
}

static void claim(tx_jobs_t *e, size_t limit, int probe)
{
    claim_t *c = calloc(1, sizeof *c);
    if (c == NULL) return;
    c->e = e;
    c->limit = limit;
    c->probe = probe;
    c->lease_ms = e->p.lease_ms;
    snprintf(c->worker, sizeof c->worker, "%s", e->worker);
    e->claiming = 1;
    if (tx__storeq_submit(e->q, w_claim, claim_done, c) != TX_EOK) {
        e->claiming = 0;
        free(c);
    }
}

/* A new config snapshot from config_get: used from now on; a paused engine resumes. */
/* Uses `cfg` for items claimed from now on (the engine takes a reference). */
static void tx__jobs_set_config(tx_jobs_t *e, struct tx_config *cfg);

static void check_config(tx_jobs_t *e)
{
    if (e->config_get == NULL || e->closing) return;
    struct tx_config *cur = e->config_get(e->config_ud);
    if (cur == NULL) return;
    if (cur != e->cfg) {
        tx__jobs_set_config(e, cur);
        if (e->st.paused) {
            tx__log(TX_LOG_INFO, "jobs", "config changed: resuming job work");
            tx__jobs_resume(e);
        }
    }
    tx__jobs_cfg_unref(cur);
}

static void pump(tx_jobs_t *e)
{
    if (e->closing || !e->started || e->claiming) {
        if (e->claiming) e->again = 1;
        return;
    }
    if (e->st.paused) {
        if (e->st.held == 0 && e->probe_done && !e->probing && !e->due_query) {
            query_due(e);
        }
        return;
    }
    /* a claim reads the shared pause (another node's); while a change of ours is being written
     * it could read the old value and pause again the work a probe has just resumed */
    if (e->pause_writes > 0) return; /* the write's completion pumps */
    size_t batch = (size_t)e->p.batch_size;
    if (e->st.held >= batch || (e->st.held > 0 && e->st.held > batch / 2))
        return; /* refill in chunks: one claim transaction per half batch, not per item */
    tx_adm_stats_t as;
    tx__admission_stats(e->adm, &as);
    if (as.queued_gateway > 0 && e->st.held > 0) return; /* gateway first */
    claim(e, batch - e->st.held, 0);
}

/* ---- next due, idle, timers ------------------------------------------------------------------ */

typedef struct {
    tx_jobs_t *e;
    int rc;
    tx_ms_t when;
} due_t;

static void w_due(tx_store_t *s, void *arg)
{
    due_t *d = arg;
    d->rc = tx__store_next_due(s, tx__clock_wall_ms(), &d->when, NULL);
}

static void due_done(void *arg)
{
    due_t *d = arg;
    tx_jobs_t *e = d->e;
    e->due_query = 0;
    int rc = d->rc;
    tx_ms_t when = d->when;
    free(d);
    if (e->closing) {
        maybe_closed(e);
        return;
    }
    tx_ms_t now = tx__clock_wall_ms();
    if (rc == TX_EOK && !e->st.paused) {
        tx_ms_t delay = when > now ? when - now : 0;
        uv_timer_start(&e->due_timer, due_cb, (uint64_t)(delay > 0 ? delay : 1), 0);
    }
    if (rc != TX_EOK && rc != TX_ENOTFOUND) {
        tx__log(TX_LOG_WARN, "jobs", "next_due: %s (trying again at the next poll)",
                tx_strerror(rc));
        return;
    }
    if (e->st.held == 0 && !e->claiming && !e->probing && e->on_idle) {
        tx_jobs_idle_t idle = {
            .paused = e->st.paused, .has_due = rc == TX_EOK, .next_due = rc == TX_EOK ? when : 0};
        e->on_idle(e->ud, &idle);
    }
}

static void query_due(tx_jobs_t *e)
{
    if (e->due_query || e->closing) return;
    due_t *d = calloc(1, sizeof *d);
    if (d == NULL) return;
    d->e = e;
    e->due_query = 1;
    if (tx__storeq_submit(e->q, w_due, due_done, d) != TX_EOK) {
        e->due_query = 0;
        free(d);
    }
}

static void due_cb(uv_timer_t *t)
{
    pump(t->data);
}

typedef struct {
    tx_jobs_t *e;
    int rc;
    tx_store_stats_t s;
} stats_t;

static void w_stats(tx_store_t *s, void *arg)
{
    stats_t *st = arg;
    st->rc = tx__store_stats(s, NULL, &st->s, NULL);
}

static void stats_done(void *arg)
{
    stats_t *st = arg;
    tx_jobs_t *e = st->e;
    e->stats_query = 0;
    if (st->rc == TX_EOK) {
        e->st.counts_valid = 1;
        e->st.total = st->s.total;
        memcpy(e->st.by_status, st->s.by_status, sizeof e->st.by_status);
    }
    free(st);
    maybe_closed(e);
}

static void poll_cb(uv_timer_t *t)
{
    tx_jobs_t *e = t->data;
    if (e->closing) return;
    check_config(e);
    if (!e->stats_query) {
        stats_t *st = calloc(1, sizeof *st);
        if (st) {
            st->e = e;
            e->stats_query = 1;
            if (tx__storeq_submit(e->q, w_stats, stats_done, st) != TX_EOK) {
                e->stats_query = 0;
                free(st);
            }
        }
    }
    pump(e);
}

static void probe_cb(uv_timer_t *t)
{
    tx_jobs_t *e = t->data;
    if (e->closing || !e->started || !e->st.paused || e->probing || e->claiming) return;
    tx__log(TX_LOG_INFO, "jobs", "paused: probing with one item");
    claim(e, 1, 1);
}

/* ---- start ----------------------------------------------------------------------------------- */

typedef struct {
    tx_jobs_t *e;
    int64_t reclaimed;
    tx_pause_t pause;
    int rc;
    tx_error_t err;
} start_t;

static void w_start(tx_store_t *s, void *arg)
{
    start_t *st = arg;
    st->rc = tx__store_reclaim_expired(s, tx__clock_wall_ms(), &st->reclaimed, &st->err);
    if (st->rc == TX_EOK) st->rc = tx__store_pause_get(s, &st->pause, &st->err);
}

static void start_done(void *arg)
{
    start_t *st = arg;
    tx_jobs_t *e = st->e;
    if (st->rc != TX_EOK)
        tx__log(TX_LOG_ERROR, "jobs", "start: %s", st->err.msg ? st->err.msg : tx_strerror(st->rc));
    if (st->reclaimed)
        tx__log(TX_LOG_INFO, "jobs", "reclaimed %lld expired lease(s)", (long long)st->reclaimed);
    if (st->rc == TX_EOK && st->pause.paused) {
        e->st.paused = 1;
        snprintf(e->st.pause_reason, sizeof e->st.pause_reason, "%s", st->pause.reason);
        tx__log(TX_LOG_WARN, "jobs", "job work is paused: %s", st->pause.reason);
    }
    free(st);
    e->started = 1;
    if (e->closing) {
        maybe_closed(e);
        return;
    }
    uv_timer_start(&e->poll_timer, poll_cb, 0, (uint64_t)e->poll_ms);
    uv_timer_start(&e->probe_timer, probe_cb, 0, (uint64_t)e->p.probe_interval_ms);
    pump(e);
}

int tx__jobs_open(const tx_jobs_opts_t *o, tx_jobs_t **out, tx_error_t *err)
{
    if (out) *out = NULL;
    if (o == NULL || out == NULL || o->loop == NULL || (o->store_url == NULL && !o->storeq) ||
        o->cfg == NULL || o->port.start == NULL)
        return tx__store_fail(err, TX_EINVAL, "tx__jobs_open: loop, store, config and port needed");
    tx_jobs_t *e = calloc(1, sizeof *e);
    if (e == NULL) return tx__store_fail(err, TX_ENOMEM, "out of memory");
    e->loop = o->loop;
    e->cfg = tx__jobs_cfg_ref(o->cfg);
    tx__jobs_params_from(e->cfg, &e->p);
    e->port = o->port;
    e->config_get = o->config_get;
    e->config_ud = o->config_ud;
    e->poll_ms = o->poll_ms > 0 ? o->poll_ms : 1000;
    e->on_item = o->on_item;
    e->on_idle = o->on_idle;
    e->on_attempt = o->on_attempt;
    e->ud = o->ud;
    snprintf(e->worker, sizeof e->worker, "%s", o->worker ? o->worker : "tenax");
    tx_rng_seed(&e->rng, o->seed ? o->seed : (uint64_t)uv_hrtime() ^ (uint64_t)tx__clock_wall_ms());
    e->adm = o->adm;
    if (e->adm == NULL) {
        e->adm = tx__admission_new((unsigned)e->p.max_concurrency, 0);
        e->own_adm = 1;
    }
    int rc = TX_EOK;
    if (e->adm == NULL)
        rc = tx__store_fail(err, TX_ENOMEM, "out of memory");
    else if (o->storeq)
        e->q = o->storeq;
    else if ((rc = tx__storeq_open(o->loop, o->store_url,
                                   o->store_threads > 0 ? o->store_threads : 2, &e->q, err)) ==
             TX_EOK)
        e->own_q = 1;
    if (rc != TX_EOK) {
        if (e->own_adm) tx__admission_free(e->adm);
        tx__jobs_cfg_unref(e->cfg);
        free(e);
        return rc;
    }
    uv_timer_init(e->loop, &e->due_timer);
    uv_timer_init(e->loop, &e->poll_timer);
    uv_timer_init(e->loop, &e->probe_timer);
    e->due_timer.data = e->poll_timer.data = e->probe_timer.data = e;
    e->handles_open = 3;
    start_t *st = calloc(1, sizeof *st);
    if (st == NULL || (st->e = e, tx__storeq_submit(e->q, w_start, start_done, st)) != TX_EOK) {
        free(st);
        e->started = 1;
    }
    *out = e;
    return TX_EOK;
}

/* ---- control --------------------------------------------------------------------------------- */

void tx__jobs_kick(tx_jobs_t *e)
{
    if (e == NULL) return;
    pump(e);
}

static void w_resume(tx_store_t *s, void *arg)
{
    (void)arg;
    int rc = tx__store_pause_set(s, 0, NULL, tx__clock_wall_ms(), NULL);
    if (rc != TX_EOK)
        tx__log(TX_LOG_ERROR, "jobs", "could not clear the pause: %s", tx_strerror(rc));
}

static void resume_done(void *arg)
{
    tx_jobs_t *e = arg;
    e->pause_writes--;
    pump(e);
}

void tx__jobs_resume(tx_jobs_t *e)
{
    if (e == NULL || e->closing) return;
    int was = e->st.paused;
    e->st.paused = 0;
    e->st.pause_reason[0] = '\0';
    if (was) tx__log(TX_LOG_INFO, "jobs", "job work resumed");
    if (tx__storeq_submit(e->q, w_resume, resume_done, e) != TX_EOK)
        pump(e);
    else
        e->pause_writes++;
}

static void tx__jobs_set_config(tx_jobs_t *e, struct tx_config *cfg)
{
    if (e == NULL || cfg == NULL) return;
    struct tx_config *old = e->cfg;
    e->cfg = tx__jobs_cfg_ref(cfg);
    tx__jobs_params_from(e->cfg, &e->p);
    tx__jobs_cfg_unref(old);
    if (e->own_adm)
        tx__admission_set_limits(e->adm, (unsigned)e->p.max_concurrency, 0,
                                 (tx_ms_t)uv_now(e->loop));
    if (e->started && !e->closing)
        uv_timer_set_repeat(&e->probe_timer, (uint64_t)e->p.probe_interval_ms);
}

void tx__jobs_stats(const tx_jobs_t *e, tx_jobs_stats_t *out)
{
    if (out == NULL) return;
    if (e == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = e->st;
}

/* ---- close ----------------------------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
    tx_jobs_t *e = h->data;
    e->handles_open--;
    maybe_closed(e);
}

static void q_closed(void *ud)
{
    tx_jobs_t *e = ud;
    e->q = NULL;
    e->q_done = 1;
    uv_close((uv_handle_t *)&e->due_timer, handle_closed);
    uv_close((uv_handle_t *)&e->poll_timer, handle_closed);
    uv_close((uv_handle_t *)&e->probe_timer, handle_closed);
}

/* The close sequence: no job, claim or query left → close (or let go of) the executor →
 * close the timers → once every handle (job timers included) is closed, free. */
static void maybe_closed(tx_jobs_t *e)
{
    if (!e->closing) return;
    if (!e->q_closing && e->jobs == NULL && !e->claiming && !e->due_query && !e->stats_query &&
        e->started) {
        e->q_closing = 1;
        if (e->own_q)
            tx__storeq_close(e->q, q_closed, e);
        else
            q_closed(e);
        return;
    }
    if (e->q_done && e->handles_open == 0) {
        while (e->tasks) {
            task_entry_t *t = e->tasks;
            e->tasks = t->next;
            tx__task_clear(&t->t);
            free(t);
        }
        if (e->own_adm) tx__admission_free(e->adm);
        tx__jobs_cfg_unref(e->cfg);
        void (*cb)(void *) = e->closed;
        void *ud = e->closed_ud;
        free(e);
        if (cb) cb(ud);
    }
}

void tx__jobs_close(tx_jobs_t *e, void (*closed)(void *ud), void *ud)
{
    if (e == NULL || e->closing) return;
    e->closing = 1;
    e->closed = closed;
    e->closed_ud = ud;
    uv_timer_stop(&e->due_timer);
    uv_timer_stop(&e->poll_timer);
    uv_timer_stop(&e->probe_timer);
    for (job_t *j = e->jobs, *next; j; j = next) {
        next = j->next;
        if (j->att) {
            e->port.cancel(e->port.self, j->att);
            j->att = NULL;
            if (e->st.in_flight) e->st.in_flight--;
            if (j->has_slot) {
                j->has_slot = 0;
                tx__admission_release(e->adm, (tx_ms_t)uv_now(e->loop));
            }
            finish_now(j, TX_ITEM_RETRYING, "interrupted (shutdown)", -1, tx__clock_wall_ms());
        } else if (j->waiting_slot) {
            tx__admission_cancel(e->adm, &j->w);
            j->waiting_slot = 0;
            finish_now(j, TX_ITEM_RETRYING, "interrupted (shutdown)", -1, tx__clock_wall_ms());
        } else if (j->timer_active) {
            uv_timer_stop(&j->timer);
            j->timer_active = 0;
            finish_now(j, TX_ITEM_RETRYING, "interrupted (shutdown)", -1, tx__clock_wall_ms());
        }
        /* else: a store call is running; its done callback sees `closing` */
    }
    maybe_closed(e);
}
