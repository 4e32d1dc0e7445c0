/* Store executor: a mutex-protected FIFO feeds store threads; a uv_async carries finished work
 * back to the loop, where `done` callbacks run in completion order. Grouped work: a thread takes
 * the contiguous run of same-group items at the head of the queue in one go. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/storeq.h"

typedef struct job {
    struct job *next;
    tx_storeq_work_fn work;
    tx_storeq_group_fn group;
    tx_storeq_done_fn done;
    void *arg;
} job_t;

typedef struct {
    tx_storeq_t *q;
    pthread_t tid;
    tx_store_t *store;
} worker_t;

struct tx_storeq {
    uv_loop_t *loop;
    uv_async_t async;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *todo_head, *todo_tail; /* waiting for a thread */
    job_t *done_head, *done_tail; /* finished, waiting for the loop */
    size_t todo_n;
    int stopping; /* threads exit when the queue is empty */
    int closing;  /* no more submissions */
    int running;  /* jobs taken by threads, not yet finished */
    int nworkers;
    worker_t workers[16];
    void (*closed)(void *);
    void *closed_ud;
};

static void *worker_main(void *p)
{
    worker_t *w = p;
    tx_storeq_t *q = w->q;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->todo_head == NULL && !q->stopping)
            pthread_cond_wait(&q->cv, &q->mu);
        job_t *j = q->todo_head, *last = j;
        if (j == NULL) break; /* stopping and drained */
        size_t n = 1;
        if (j->group != NULL)
            while (n < TX_STOREQ_GROUP_MAX && last->next != NULL && last->next->group == j->group) {
                last = last->next;
                n++;
            }
        q->todo_head = last->next;
        if (q->todo_head == NULL) q->todo_tail = NULL;
        last->next = NULL;
        q->todo_n -= n;
        q->running++;
        pthread_mutex_unlock(&q->mu);
        if (j->group != NULL) {
            void *args[TX_STOREQ_GROUP_MAX];
            size_t k = 0;
            for (job_t *g = j; g != NULL; g = g->next)
                args[k++] = g->arg;
            j->group(w->store, args, n);
        } else if (j->work != NULL) {
            j->work(w->store, j->arg);
        }
        pthread_mutex_lock(&q->mu);
        q->running--;
        if (q->done_tail != NULL)
            q->done_tail->next = j;
        else
            q->done_head = j;
        q->done_tail = last;
        uv_async_send(&q->async);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void on_async_closed(uv_handle_t *h)
{
    tx_storeq_t *q = h->data;
    void (*closed)(void *) = q->closed;
    void *ud = q->closed_ud;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
    if (closed != NULL) closed(ud);
}

static void finish_close(tx_storeq_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->nworkers; i++) {
        pthread_join(q->workers[i].tid, NULL);
        tx__store_close(q->workers[i].store);
    }
    uv_close((uv_handle_t *)&q->async, on_async_closed);
}

static void on_async(uv_async_t *a)
{
    tx_storeq_t *q = a->data;
    pthread_mutex_lock(&q->mu);
    job_t *j = q->done_head;
    q->done_head = q->done_tail = NULL;
    int drained = q->closing && q->todo_head == NULL && q->running == 0;
    pthread_mutex_unlock(&q->mu);
    while (j != NULL) {
        job_t *next = j->next;
        if (j->done != NULL) j->done(j->arg);
        free(j);
        j = next;
    }
    if (drained && !q->stopping) {
        /* A done callback may not submit after close, so the queue stays empty. */
        pthread_mutex_lock(&q->mu);
        int empty = q->done_head == NULL;
        pthread_mutex_unlock(&q->mu);
        if (empty)
            finish_close(q);
        else
            uv_async_send(&q->async);
    }
}

int tx__storeq_open(uv_loop_t *loop, const char *url, int nthreads, tx_storeq_t **out,
                    tx_error_t *err)
{
    if (loop == NULL || url == NULL || out == NULL || nthreads < 1 || nthreads > 16)
        return tx__store_fail(err, TX_EINVAL, "store executor: invalid arguments");
    tx_storeq_t *q = calloc(1, sizeof *q);
    if (q == NULL) return tx__store_fail(err, TX_ENOMEM, "store executor: out of memory");
    q->loop = loop;
    int rc;
    for (int i = 0; i < nthreads; i++) {
        rc = tx__store_open(url, &q->workers[i].store, err);
        if (rc != TX_EOK) goto fail;
        q->workers[i].q = q;
        q->nworkers = i + 1;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (uv_async_init(loop, &q->async, on_async) != 0) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        rc = tx__store_fail(err, TX_EIO, "store executor: cannot create async handle");
        goto fail;
    }
    q->async.data = q;
    for (int i = 0; i < q->nworkers; i++) {
        if (pthread_create(&q->workers[i].tid, NULL, worker_main, &q->workers[i]) != 0) {
            /* Stop what started, then fail through close: the caller gets no executor. */
            q->nworkers = i;
            q->closing = 1;
            for (int k = i; k < nthreads; k++)
                tx__store_close(q->workers[k].store);
            finish_close(q);
            return tx__store_fail(err, TX_EIO, "store executor: cannot start a thread");
        }
    }
    *out = q;
    return TX_EOK;
fail:
    for (int i = 0; i < q->nworkers; i++)
        tx__store_close(q->workers[i].store);
    free(q);
    return rc;
}

static int submit(tx_storeq_t *q, tx_storeq_work_fn work, tx_storeq_group_fn group,
                  tx_storeq_done_fn done, void *arg)
{
    if (q == NULL || q->closing) return TX_ESTOPPED;
    job_t *j = malloc(sizeof *j);
    if (j == NULL) return TX_ENOMEM;
    j->next = NULL;
    j->work = work;
    j->group = group;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&q->mu);
    if (q->todo_tail != NULL)
        q->todo_tail->next = j;
    else
        q->todo_head = j;
    q->todo_tail = j;
    q->todo_n++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return TX_EOK;
}

int tx__storeq_submit(tx_storeq_t *q, tx_storeq_work_fn work, tx_storeq_done_fn done, void *arg)
{
    return submit(q, work, NULL, done, arg);
}

int tx__storeq_submit_group(tx_storeq_t *q, tx_storeq_group_fn group, tx_storeq_done_fn done,
                            void *arg)
{
    return submit(q, NULL, group, done, arg);
}

void tx__storeq_close(tx_storeq_t *q, void (*closed)(void *ud), void *ud)
{
    if (q == NULL || q->closing) return;
    q->closing = 1;
    q->closed = closed;
    q->closed_ud = ud;
    uv_async_send(&q->async); /* on_async sees the drained queue and finishes the close */
}
