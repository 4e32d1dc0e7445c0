/* The wake-up listener (pgwake.h): one thread, one store handle, blocked in poll() on the
 * handle's LISTEN socket and a stop pipe; wake-ups cross to the loop through a uv_async. All
 * database I/O (connect, LISTEN, reading notifications, reading the pause) stays on the thread. */
#include "jobs/pgwake.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "obs/log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* A quiet socket is looked at again after this long (a server that vanished without a word). */
#define IDLE_CHECK_MS 5000

struct tx_pgwake {
    uv_loop_t *loop;
    uv_async_t async;
    uv_thread_t tid;
    int thread_on;
    int pipefd[2];
    char *url;
    tx_pgwake_fn fn;
    void *ud;
    void (*closed)(void *);
    void *closed_ud;
    int closing;
    /* shared with the thread, under mu */
    uv_mutex_t mu;
    int stop;
    int wake;    /* a wake-up waits for the loop */
    int resumed; /* the pause went 1 -> 0 */
    int exited;
    tx_pgwake_stats_t st;
};

/* ---- the thread ------------------------------------------------------------------------------ */

/* Waits up to ms for the stop pipe; 1 when stopping. */
static int wait_stop(tx_pgwake_t *w, int fd, int ms)
{
    struct pollfd p[2] = {{.fd = w->pipefd[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    int r = poll(p, fd >= 0 ? 2 : 1, ms);
    if (r < 0 && errno != EINTR) return 1; /* cannot wait: give up rather than spin */
    return r > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

static void post(tx_pgwake_t *w, int resumed, uint64_t notifies)
{
    uv_mutex_lock(&w->mu);
    w->wake = 1;
    w->resumed |= resumed;
    w->st.notifies += notifies;
    uv_mutex_unlock(&w->mu);
    uv_async_send(&w->async);
}

static void set_listening(tx_pgwake_t *w, int on, int unsupported)
{
    uv_mutex_lock(&w->mu);
    w->st.listening = on;
    w->st.unsupported = unsupported;
    uv_mutex_unlock(&w->mu);
}

/* The shared pause as the store says now: 1, 0, or -1 when it could not be read. */
static int read_pause(tx_store_t *s)
{
    tx_pause_t p;
    return tx__store_pause_get(s, &p, NULL) == TX_EOK ? p.paused != 0 : -1;
}

static void thread_main(void *arg)
{
    tx_pgwake_t *w = arg;
    tx_store_t *s = NULL;
    int backoff = BACKOFF_MIN_MS, up = 0, was_down = 0, last_pause = -1;
    for (;;) {
        uv_mutex_lock(&w->mu);
        int stop = w->stop;
        uv_mutex_unlock(&w->mu);
        if (stop) break;
        tx_error_t err = {0};
        int fd = -1, rc = s ? TX_EOK : tx__store_open(w->url, &s, &err);
        if (rc == TX_EOK) rc = tx__store_listen(s, &fd, &err);
        if (rc == TX_EINVAL) { /* no wake-ups on this backend: the scheduler polls */
            tx__log(TX_LOG_DEBUG, "jobs", "store has no wake-ups; polling only");
            set_listening(w, 0, 1);
            break;
        }
        int n = 0;
        if (rc == TX_EOK) rc = tx__store_wait_notify(s, 0, &n, &err);
        if (rc != TX_EOK) {
            if (up || !was_down) {
                tx__log(TX_LOG_WARN, "jobs", "wake-up listener: %s; retrying",
                        err.msg ? err.msg : tx_strerror(rc));
                set_listening(w, 0, 0);
                post(w, 0, 0); /* wake-ups may have been missed: look for work */
            }
            up = 0;
            was_down = 1;
            if (wait_stop(w, -1, backoff)) break;
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = BACKOFF_MIN_MS;
        int resumed = 0;
        if (!up) {
            if (was_down) tx__log(TX_LOG_INFO, "jobs", "wake-up listener: listening again");
            set_listening(w, 1, 0);
        }
        if (n > 0 || !up) {
            int p = read_pause(s);
            resumed = last_pause == 1 && p == 0;
            if (p >= 0) last_pause = p;
        }
        if (n > 0 || (!up && was_down)) post(w, resumed, (uint64_t)n);
        up = 1;
        if (wait_stop(w, fd, IDLE_CHECK_MS)) break;
    }
    tx__store_close(s);
    uv_mutex_lock(&w->mu);
    w->exited = 1;
    w->st.listening = 0;
    uv_mutex_unlock(&w->mu);
    uv_async_send(&w->async);
}

/* ---- the loop side --------------------------------------------------------------------------- */

static void freed(uv_handle_t *h)
{
    tx_pgwake_t *w = h->data;
    void (*cb)(void *) = w->closed;
    void *ud = w->closed_ud;
    uv_mutex_destroy(&w->mu);
    close(w->pipefd[0]);
    close(w->pipefd[1]);
    free(w->url);
    free(w);
    if (cb) cb(ud);
}

static void on_async(uv_async_t *a)
{
    tx_pgwake_t *w = a->data;
    uv_mutex_lock(&w->mu);
    int wake = w->wake, resumed = w->resumed, exited = w->exited;
    w->wake = w->resumed = 0;
    if (wake) w->st.wakeups++;
    uv_mutex_unlock(&w->mu);
    if (w->closing) {
        if (exited && w->thread_on) {
            uv_thread_join(&w->tid);
            w->thread_on = 0;
            uv_close((uv_handle_t *)&w->async, freed);
        }
        return;
    }
    if (wake && w->fn) w->fn(w->ud, resumed);
}

int tx__pgwake_open(uv_loop_t *loop, const char *store_url, tx_pgwake_fn fn, void *ud,
                    tx_pgwake_t **out, tx_error_t *err)
{
    if (out) *out = NULL;
    if (loop == NULL || store_url == NULL || fn == NULL || out == NULL)
        return tx__store_fail(err, TX_EINVAL, "pgwake: loop, store URL and callback needed");
    tx_pgwake_t *w = calloc(1, sizeof *w);
    if (w == NULL || (w->url = strdup(store_url)) == NULL) {
        free(w);
        return tx__store_fail(err, TX_ENOMEM, "out of memory");
    }
    if (pipe(w->pipefd) != 0) {
        free(w->url);
        free(w);
        return tx__store_fail(err, TX_EIO, "pgwake: pipe: %s", strerror(errno));
    }
    fcntl(w->pipefd[0], F_SETFD, FD_CLOEXEC);
    fcntl(w->pipefd[1], F_SETFD, FD_CLOEXEC);
    w->loop = loop;
    w->fn = fn;
    w->ud = ud;
    uv_mutex_init(&w->mu);
    uv_async_init(loop, &w->async, on_async);
    w->async.data = w;
    if (uv_thread_create(&w->tid, thread_main, w) != 0) {
        w->closing = 1;
        uv_close((uv_handle_t *)&w->async, freed);
        return tx__store_fail(err, TX_EIO, "pgwake: cannot start the listener thread");
    }
    w->thread_on = 1;
    *out = w;
    return TX_EOK;
}

void tx__pgwake_stats(const tx_pgwake_t *w, tx_pgwake_stats_t *out)
{
    if (out == NULL) return;
    memset(out, 0, sizeof *out);
    if (w == NULL) return;
    uv_mutex_lock((uv_mutex_t *)&w->mu);
    *out = w->st;
    uv_mutex_unlock((uv_mutex_t *)&w->mu);
}

void tx__pgwake_close(tx_pgwake_t *w, void (*closed)(void *ud), void *ud)
{
    if (w == NULL || w->closing) return;
    w->closing = 1;
    w->closed = closed;
    w->closed_ud = ud;
    uv_mutex_lock(&w->mu);
    w->stop = 1;
    uv_mutex_unlock(&w->mu);
    ssize_t wr;
    do
        wr = write(w->pipefd[1], "x", 1);
    while (wr < 0 && errno == EINTR);
    /* the thread posts once it has exited; on_async joins it and frees */
    uv_async_send(&w->async);
}
