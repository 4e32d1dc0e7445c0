/* Metrics registry: families hold an open-addressing table of series keyed by a hash of their
 * label values, so a lookup is one hash and a few string compares (only the compares when the
 * label set is one of the family's last two) and allocates only the first time a label set is
 * seen. Rendering walks families and series in creation order. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"
#include "core/utf8.h"

const double tx_metrics_latency_buckets[TX_METRICS_LATENCY_NBUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};

struct tx_metric_series {
    uint64_t hash;
    char *values[TX_METRICS_MAX_LABELS]; /* raw (possibly truncated) copies, for comparison */
    double value;                        /* counter, gauge; histogram sum */
    uint64_t count;                      /* histogram observations */
    uint64_t *buckets;                   /* histogram: per-bucket (non-cumulative) counts */
    const tx_metric_family_t *family;
};

struct tx_metric_family {
    tx_metric_type_t type;
    char *name, *help;
    size_t nlabels;
    char *labels[TX_METRICS_MAX_LABELS];
    double bounds[TX_METRICS_MAX_BUCKETS];
    size_t nbuckets;
    size_t max_series, nseries;
    uint64_t refused;
    tx_metric_series_t **order; /* creation order, max_series slots */
    tx_metric_series_t **table; /* open addressing, cap slots (power of two ≥ 2·max_series) */
    size_t cap;
    tx_metric_series_t *recent[2]; /* the last two series looked up, checked before hashing */
    struct tx_metric_family *next;
};

struct tx_metrics {
    tx_metric_family_t *head, *tail;
};

tx_metrics_t *tx__metrics_create(void)
{
    return calloc(1, sizeof(tx_metrics_t));
}

static void family_free(tx_metric_family_t *f)
{
    if (f == NULL) return;
    for (size_t i = 0; i < f->nseries; i++)
        free(f->order[i]);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->order);
    free(f->table);
    free(f->name);
    free(f->help);
    free(f);
}

void tx__metrics_destroy(tx_metrics_t *m)
{
    if (m == NULL) return;
    tx_metric_family_t *f = m->head;
    while (f != NULL) {
        tx_metric_family_t *next = f->next;
        family_free(f);
        f = next;
    }
    free(m);
}

static int valid_name(const char *s, int allow_colon)
{
    if (s == NULL || *s == '\0') return 0;
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

static tx_metric_family_t *tx_metrics_find(tx_metrics_t *m, const char *name)
{
    if (m == NULL || name == NULL) return NULL;
    for (tx_metric_family_t *f = m->head; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

tx_metric_family_t *tx__metrics_register(tx_metrics_t *m, tx_metric_type_t type, const char *name,
                                         const char *help, size_t nlabels,
                                         const char *const *label_names, const double *buckets,
                                         size_t nbuckets, size_t max_series)
{
    if (m == NULL || !valid_name(name, 1) || nlabels > TX_METRICS_MAX_LABELS ||
        (nlabels > 0 && label_names == NULL) || max_series == 0 || max_series > (1u << 24) ||
        (type != TX_METRIC_COUNTER && type != TX_METRIC_GAUGE && type != TX_METRIC_HISTOGRAM) ||
        tx_metrics_find(m, name) != NULL)
        return NULL;
    if (nlabels == 0) max_series = 1;
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_name(label_names[i], 0) || strncmp(label_names[i], "__", 2) == 0 ||
            (type == TX_METRIC_HISTOGRAM && strcmp(label_names[i], "le") == 0))
            return NULL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(label_names[i], label_names[j]) == 0) return NULL;
    }
    if (type == TX_METRIC_HISTOGRAM) {
        if (buckets == NULL || nbuckets == 0 || nbuckets > TX_METRICS_MAX_BUCKETS) return NULL;
        for (size_t i = 0; i < nbuckets; i++)
            if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) return NULL;
    } else {
        nbuckets = 0;
    }

    tx_metric_family_t *f = calloc(1, sizeof(*f));
    if (f == NULL) return NULL;
    f->type = type;
    f->nlabels = nlabels;
    f->nbuckets = nbuckets;
    f->max_series = max_series;
    for (size_t i = 0; i < nbuckets; i++)
        f->bounds[i] = buckets[i];
    f->cap = 2;
    while (f->cap < 2 * max_series)
        f->cap <<= 1;
    f->name = strdup(name);
    f->help = strdup(help != NULL ? help : "");
    f->order = calloc(max_series, sizeof(*f->order));
    f->table = calloc(f->cap, sizeof(*f->table));
    int ok = f->name != NULL && f->help != NULL && f->order != NULL && f->table != NULL;
    for (size_t i = 0; i < nlabels && ok; i++)
        ok = (f->labels[i] = strdup(label_names[i])) != NULL;
    if (!ok || (nlabels == 0 && tx__metrics_series(f, NULL) == NULL)) {
        family_free(f);
        return NULL;
    }
    if (m->tail != NULL)
        m->tail->next = f;
    else
        m->head = f;
    m->tail = f;
    return f;
}

static inline uint64_t mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

/* Hashes the (truncated) label values eight bytes at a time; each value's length is mixed in
 * after it, so ("ab","c") and ("a","bc") differ. Not for untrusted collision resistance: a
 * family holds at most max_series entries, so a collision only costs a compare. */
static uint64_t hash_values(const tx_metric_family_t *f, const char *const *values, size_t *lens)
{
    uint64_t h = 0x243F6A8885A308D3ull;
    for (size_t i = 0; i < f->nlabels; i++) {
        const char *v = values[i] != NULL ? values[i] : "";
        size_t n = strnlen(v, TX_METRICS_LABEL_MAX), k = n;
        lens[i] = n;
        uint64_t w;
        for (; k >= 8; k -= 8, v += 8) {
            memcpy(&w, v, 8);
            h = mix(h, w);
        }
        if (k > 0) {
            w = 0;
            memcpy(&w, v, k);
            h = mix(h, w);
        }
        h = mix(h, n + 1);
    }
    return h;
}

static int same_values(const tx_metric_series_t *s, size_t nlabels, const char *const *values,
                       const size_t *lens)
{
    for (size_t i = 0; i < nlabels; i++) {
        const char *v = values[i] != NULL ? values[i] : "";
        if (memcmp(s->values[i], v, lens[i]) != 0 || s->values[i][lens[i]] != '\0') return 0;
    }
    return 1;
}

/* same_values without the lengths: strncmp stops where the stored copy was cut. */
static int is_series(const tx_metric_series_t *s, size_t nlabels, const char *const *values)
{
    for (size_t i = 0; i < nlabels; i++)
        if (strncmp(s->values[i], values[i] != NULL ? values[i] : "", TX_METRICS_LABEL_MAX) != 0)
            return 0;
    return 1;
}

/* Remembers s as the latest lookup (a hot path alternates between a few label sets). */
static tx_metric_series_t *note_recent(tx_metric_family_t *f, tx_metric_series_t *s)
{
    if (f->recent[0] != s) {
        f->recent[1] = f->recent[0];
        f->recent[0] = s;
    }
    return s;
}

tx_metric_series_t *tx__metrics_series(tx_metric_family_t *f, const char *const *values)
{
    if (f == NULL || (f->nlabels > 0 && values == NULL)) return NULL;
    for (int k = 0; k < 2; k++)
        if (f->recent[k] != NULL && is_series(f->recent[k], f->nlabels, values))
            return f->recent[k];
    size_t lens[TX_METRICS_MAX_LABELS];
    uint64_t h = hash_values(f, values, lens);
    size_t mask = f->cap - 1, i = (size_t)h & mask;
    for (;;) {
        tx_metric_series_t *s = f->table[i];
        if (s == NULL) break;
        if (s->hash == h && same_values(s, f->nlabels, values, lens)) return note_recent(f, s);
        i = (i + 1) & mask;
    }
    if (f->nseries >= f->max_series) {
        f->refused++;
        return NULL;
    }
    /* One block: the series, its bucket counts, then its label value strings. */
    size_t size = sizeof(tx_metric_series_t) + f->nbuckets * sizeof(uint64_t);
    for (size_t k = 0; k < f->nlabels; k++)
        size += lens[k] + 1;
    tx_metric_series_t *s = calloc(1, size);
    if (s == NULL) return NULL;
    s->hash = h;
    s->family = f;
    char *p = (char *)(s + 1);
    if (f->nbuckets > 0) {
        s->buckets = (uint64_t *)(void *)p;
        p += f->nbuckets * sizeof(uint64_t);
    }
    for (size_t k = 0; k < f->nlabels; k++) {
        memcpy(p, values[k] != NULL ? values[k] : "", lens[k]);
        p[lens[k]] = '\0';
        s->values[k] = p;
        p += lens[k] + 1;
    }
    f->table[i] = s;
    f->order[f->nseries++] = s;
    return note_recent(f, s);
}

void tx__metrics_add(tx_metric_series_t *s, double delta)
{
    if (s == NULL || isnan(delta) || s->family->type == TX_METRIC_HISTOGRAM) return;
    if (s->family->type == TX_METRIC_COUNTER && delta < 0) return;
    s->value += delta;
}

void tx__metrics_set(tx_metric_series_t *s, double value)
{
    if (s == NULL || s->family->type != TX_METRIC_GAUGE) return;
    s->value = value;
}

void tx__metrics_observe(tx_metric_series_t *s, double value)
{
    if (s == NULL || isnan(value) || s->family->type != TX_METRIC_HISTOGRAM) return;
    const tx_metric_family_t *f = s->family;
    size_t lo = 0, hi = f->nbuckets; /* first bound ≥ value; nbuckets means +Inf */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (f->bounds[mid] < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < f->nbuckets) s->buckets[lo]++;
    s->count++;
    s->value += value;
}

void tx__metrics_inc(tx_metric_family_t *f, const char *const *values, double delta)
{
    tx__metrics_add(tx__metrics_series(f, values), delta);
}

void tx__metrics_gauge_set(tx_metric_family_t *f, const char *const *values, double value)
{
    tx__metrics_set(tx__metrics_series(f, values), value);
}

void tx__metrics_observe_at(tx_metric_family_t *f, const char *const *values, double value)
{
    tx__metrics_observe(tx__metrics_series(f, values), value);
}

double tx__metrics_value(const tx_metric_series_t *s)
{
    return s != NULL ? s->value : 0;
}

uint64_t tx__metrics_hist_count(const tx_metric_series_t *s)
{
    return s != NULL ? s->count : 0;
}

double tx__metrics_hist_sum(const tx_metric_series_t *s)
{
    return s != NULL && s->family->type == TX_METRIC_HISTOGRAM ? s->value : 0;
}

size_t tx__metrics_series_count(const tx_metric_family_t *f)
{
    return f != NULL ? f->nseries : 0;
}

uint64_t tx__metrics_refused(const tx_metric_family_t *f)
{
    return f != NULL ? f->refused : 0;
}

/* ---- exposition ---- */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} buf_t;

static void buf_reserve(buf_t *b, size_t extra)
{
    if (b->oom || b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void buf_put(buf_t *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (b->oom) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(buf_t *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

static void buf_fmt(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_fmt(buf_t *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0) buf_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Shortest of %.15g / %.17g that reads back exactly; Prometheus spellings for the specials. */
static void buf_double(buf_t *b, double v)
{
    if (isnan(v)) {
        buf_str(b, "NaN");
    } else if (isinf(v)) {
        buf_str(b, v > 0 ? "+Inf" : "-Inf");
    } else {
        char tmp[40];
        snprintf(tmp, sizeof(tmp), "%.15g", v);
        if (strtod(tmp, NULL) != v) snprintf(tmp, sizeof(tmp), "%.17g", v);
        buf_str(b, tmp);
    }
}

/* Label values: valid UTF-8 with \\, \" and \n escaped. HELP: \\ and \n escaped. */
static void buf_escaped(buf_t *b, const char *s, int quote)
{
    size_t n = strlen(s);
    char clean[TX_METRICS_LABEL_MAX * 2 + 1];
    char *heap = NULL, *src = clean;
    if (n >= TX_METRICS_LABEL_MAX * 2) {
        heap = malloc(n + 1);
        if (heap == NULL) {
            b->oom = 1;
            return;
        }
        src = heap;
    }
    size_t m = tx__utf8_sanitize(src, n + 1, s, n);
    for (size_t i = 0; i < m; i++) {
        char c = src[i];
        if (c == '\\')
            buf_put(b, "\\\\", 2);
        else if (c == '\n')
            buf_put(b, "\\n", 2);
        else if (c == '"' && quote)
            buf_put(b, "\\\"", 2);
        else
            buf_put(b, &c, 1);
    }
    free(heap);
}

static void buf_labels(buf_t *b, const tx_metric_family_t *f, const tx_metric_series_t *s,
                       const char *le)
{
    if (f->nlabels == 0 && le == NULL) return;
    buf_put(b, "{", 1);
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i > 0) buf_put(b, ",", 1);
        buf_str(b, f->labels[i]);
        buf_put(b, "=\"", 2);
        buf_escaped(b, s->values[i], 1);
        buf_put(b, "\"", 1);
    }
    if (le != NULL) {
        if (f->nlabels > 0) buf_put(b, ",", 1);
        buf_str(b, "le=\"");
        buf_str(b, le);
        buf_put(b, "\"", 1);
    }
    buf_put(b, "}", 1);
}

static void render_family(buf_t *b, const tx_metric_family_t *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    buf_str(b, "# HELP ");
    buf_str(b, f->name);
    buf_put(b, " ", 1);
    buf_escaped(b, f->help, 0);
    buf_str(b, "\n# TYPE ");
    buf_str(b, f->name);
    buf_put(b, " ", 1);
    buf_str(b, types[f->type]);
    buf_put(b, "\n", 1);
    for (size_t i = 0; i < f->nseries; i++) {
        const tx_metric_series_t *s = f->order[i];
        if (f->type != TX_METRIC_HISTOGRAM) {
            buf_str(b, f->name);
            buf_labels(b, f, s, NULL);
            buf_put(b, " ", 1);
            buf_double(b, s->value);
            buf_put(b, "\n", 1);
            continue;
        }
        uint64_t cum = 0;
        for (size_t k = 0; k <= f->nbuckets; k++) {
            char le[40];
            if (k < f->nbuckets) {
                cum += s->buckets[k];
                snprintf(le, sizeof(le), "%.15g", f->bounds[k]);
            } else {
                cum = s->count;
                snprintf(le, sizeof(le), "+Inf");
            }
            buf_str(b, f->name);
            buf_str(b, "_bucket");
            buf_labels(b, f, s, le);
            buf_fmt(b, " %llu\n", (unsigned long long)cum);
        }
        buf_str(b, f->name);
        buf_str(b, "_sum");
        buf_labels(b, f, s, NULL);
        buf_put(b, " ", 1);
        buf_double(b, s->value);
        buf_put(b, "\n", 1);
        buf_str(b, f->name);
        buf_str(b, "_count");
        buf_labels(b, f, s, NULL);
        buf_fmt(b, " %llu\n", (unsigned long long)s->count);
    }
}

char *tx__metrics_render(const tx_metrics_t *m, size_t *len)
{
    if (m == NULL) return NULL;
    buf_t b = {0};
    buf_reserve(&b, 0);
    int any_refused = 0;
    for (const tx_metric_family_t *f = m->head; f != NULL; f = f->next) {
        render_family(&b, f);
        any_refused |= f->refused > 0;
    }
    if (any_refused) {
        buf_str(&b, "# HELP tenax_metrics_series_refused_total New label sets refused because "
                    "the family reached its cap of series.\n"
                    "# TYPE tenax_metrics_series_refused_total counter\n");
        for (const tx_metric_family_t *f = m->head; f != NULL; f = f->next)
            if (f->refused > 0) {
                buf_str(&b, "tenax_metrics_series_refused_total{family=\"");
                buf_str(&b, f->name);
                buf_fmt(&b, "\"} %llu\n", (unsigned long long)f->refused);
            }
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len != NULL) *len = b.len;
    return b.p;
}
