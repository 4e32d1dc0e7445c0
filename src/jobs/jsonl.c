/* The job input line parser (see jsonl.h): JSON object per line, id/owner/text checked; a text
 * of white space only (Unicode spaces included) is passed on empty, so it is skipped. */
#include "jobs/jsonl.h"

#include "core/utf8.h"

#include <stdio.h>
#include <string.h>

static const char *field_text(json_t *v, char *buf, size_t cap)
{
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return NULL;
}

static int fail(char *why, size_t cap, const char *msg)
{
    if (why && cap) snprintf(why, cap, "%s", msg);
    return -1;
}

int tx__jobs_parse_line(const char *line, size_t len, size_t lineno, tx_jobs_line_t *out, char *why,
                        size_t cap)
{
    if (out == NULL) return fail(why, cap, "no output");
    memset(out, 0, sizeof *out);
    if (line == NULL) return 0;
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' || line[k] == '\n'))
        k++;
    if (k == len) return 0;
    json_error_t je;
    json_t *doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        if (why && cap) snprintf(why, cap, "not JSON (%.120s)", je.text);
        return -1;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        return fail(why, cap, "not a JSON object");
    }
    json_t *jid = json_object_get(doc, "id"), *jo = json_object_get(doc, "owner");
    json_t *text = json_object_get(doc, "text");
    const char *id, *owner;
    if (jid == NULL) {
        snprintf(out->idbuf, sizeof out->idbuf, "%zu", lineno);
        id = out->idbuf;
    } else {
        id = field_text(jid, out->idbuf, sizeof out->idbuf);
    }
    owner = jo ? field_text(jo, out->ownerbuf, sizeof out->ownerbuf) : "default";
    const char *bad = NULL;
    if (id == NULL || id[0] == '\0')
        bad = "\"id\" must be a non-empty string or an integer";
    else if (owner == NULL || owner[0] == '\0')
        bad = "\"owner\" must be a non-empty string or an integer";
    else if (text != NULL && !json_is_string(text) && !json_is_null(text))
        bad = "\"text\" must be a string";
    if (bad) {
        json_decref(doc);
        memset(out, 0, sizeof *out);
        return fail(why, cap, bad);
    }
    out->doc = doc;
    out->id = id;
    out->owner = owner;
    out->text = json_string_value(text);
    if (out->text && out->text[0] && tx__utf8_blank(out->text)) out->text = "";
    return 1;
}

void tx__jobs_line_clear(tx_jobs_line_t *l)
{
    if (l == NULL) return;
    json_decref(l->doc);
    memset(l, 0, sizeof *l);
}
