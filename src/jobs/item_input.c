/* POST /v1/items bodies → store inputs, with the field and index of the first broken rule. */
#include "jobs/item_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tx__task_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > TX_TASK_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return 0;
    }
    return 1;
}

/* A string or integer field as a string kept inside `obj` (an integer is replaced by its decimal
 * text). *out NULL when absent or null. Returns 0, or -1 with `why` set. */
static int id_field(json_t *obj, const char *key, const char **out, const char **why)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        if (json_object_set_new(obj, key, json_string(buf)) != 0) {
            *why = "could not be stored (out of memory)";
            return -1;
        }
        v = json_object_get(obj, key);
    }
    if (!json_is_string(v)) {
        *why = "must be a string or an integer";
        return -1;
    }
    size_t len = json_string_length(v);
    if (len == 0 || len > TX_ITEM_ID_MAX || strlen(json_string_value(v)) != len) {
        *why = "must be 1..256 bytes without NUL";
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* One item; on a broken rule returns -1 with *field and *why set. */
static int parse_one(json_t *o, tx_item_input_t *in, const char **field, const char **why)
{
    *field = "";
    if (!json_is_object(o)) {
        *why = "must be an object {\"owner\",\"id\",\"text\",\"task\"}";
        return -1;
    }
    *field = "id";
    if (id_field(o, "id", &in->external_id, why) != 0) return -1;
    if (!in->external_id) {
        *why = "is required";
        return -1;
    }
    *field = "owner";
    if (id_field(o, "owner", &in->owner, why) != 0) return -1;
    if (!in->owner) in->owner = "default";
    *field = "text";
    json_t *t = json_object_get(o, "text");
    if (t && !json_is_null(t) && !json_is_string(t)) {
        *why = "must be a string";
        return -1;
    }
    in->text = json_is_string(t) ? json_string_value(t) : "";
    if (json_is_string(t) && strlen(in->text) != json_string_length(t)) {
        *why = "must not contain NUL";
        return -1;
    }
    *field = "task";
    json_t *k = json_object_get(o, "task");
    in->task = "tags";
    if (k && !json_is_null(k)) {
        if (!json_is_string(k) || !tx__task_name_valid(json_string_value(k))) {
            *why = "must be a task name (1..64 of A-Z a-z 0-9 _ - .)";
            return -1;
        }
        in->task = json_string_value(k);
    }
    return 0;
}

int tx__item_batch_parse(const char *body, size_t len, tx_item_batch_t *out, char *param,
                         size_t pcap, char *msg, size_t mcap)
{
    char dummy_p[1], dummy_m[1];
    if (!param || pcap == 0) {
        param = dummy_p;
        pcap = sizeof dummy_p;
    }
    if (!msg || mcap == 0) {
        msg = dummy_m;
        mcap = sizeof dummy_m;
    }
    param[0] = msg[0] = '\0';
    if (!out) return TX_EINVAL;
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *doc = body ? json_loadb(body, len, 0, &jerr) : NULL;
    if (!doc) {
        snprintf(msg, mcap, "the body is not valid JSON: %s (line %d, column %d)",
                 body ? jerr.text : "no body", body ? jerr.line : 0, body ? jerr.column : 0);
        return TX_EPARSE;
    }
    int single = json_is_object(doc);
    if (!single && !json_is_array(doc)) {
        snprintf(msg, mcap, "the body must be an item object or an array of them");
        json_decref(doc);
        return TX_EINVAL;
    }
    size_t n = single ? 1 : json_array_size(doc);
    if (n == 0 || n > TX_ITEM_BATCH_MAX) {
        snprintf(msg, mcap, "send 1..%d items (got %zu)", TX_ITEM_BATCH_MAX, n);
        json_decref(doc);
        return TX_EINVAL;
    }
    tx_item_input_t *items = calloc(n, sizeof *items);
    if (!items) {
        snprintf(msg, mcap, "out of memory");
        json_decref(doc);
        return TX_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const char *field = "", *why = "";
        if (parse_one(single ? doc : json_array_get(doc, i), &items[i], &field, &why) != 0) {
            if (single)
                snprintf(param, pcap, "%s", field);
            else
                snprintf(param, pcap, "items[%zu]%s%s", i, *field ? "." : "", field);
            snprintf(msg, mcap, "%s %s", param, why);
            free(items);
            json_decref(doc);
            return TX_EINVAL;
        }
    }
    out->doc = doc;
    out->items = items;
    out->n = n;
    out->single = single;
    return TX_EOK;
}

void tx__item_batch_free(tx_item_batch_t *b)
{
    if (!b) return;
    free(b->items);
    json_decref(b->doc);
    memset(b, 0, sizeof *b);
}
