"""The jobs HTTP API of `tenax serve` on a real SQLite file populated by `tenax run` against the
real mock: every item route and seed alias with exact field names, pagination with the cursor,
retry with and without force and limit, regenerate, idempotent import, tasks, and bad input in
the OpenAI error style; the scheduler in serve then works imported and regenerated items."""
import json
import os

import jobsutil as ju
import txtest

F = txtest.Failures()
d = ju.tmpdir()
db = os.path.join(d, "t.db")
store = "sqlite:" + db

ITEM_KEYS = ["id", "owner", "external_id", "task", "text", "result", "status", "attempts",
             "last_attempt_at", "retry_after", "error", "error_class", "model", "prompt_version",
             "created_at", "updated_at"]
SEED_EXTRA = ["user_id", "tags", "tagging_status", "tagging_attempts", "last_tagging_attempt",
              "tagging_error"]
HIST_KEYS = {"n", "model", "endpoint", "provider", "class", "http_status", "latency_ms", "at"}

# owner 1: two successes and a blank (skipped); owner f: three failures
inp = os.path.join(d, "ok.jsonl")
ju.write_jsonl(inp, [{"id": "1", "owner": "1", "text": "Postgres 17 ships faster vacuum"},
                     {"id": "2", "owner": "1", "text": "Rates are on hold this quarter"},
                     {"id": "3", "owner": "1", "text": ""}])
bad = os.path.join(d, "bad.jsonl")
ju.write_jsonl(bad, [{"id": "f%d" % i, "owner": "f", "text": "will fail %d" % i} for i in range(3)])
with txtest.mock() as m:
    rc, err = ju.run(["--input", inp, "--store", store], m.port)
    F.check(rc == 0, "populate ok items: %d %s" % (rc, err))
with txtest.mock(args=["--down-models", "gpt-4o-mini"]) as m:
    rc, err = ju.run(["--input", bad, "--store", store], m.port)
    F.check(rc == 1, "populate failed items: %d %s" % (rc, err))


def is_openai_error(doc, param=None):
    e = (doc or {}).get("error")
    ok = isinstance(e, dict) and isinstance(e.get("message"), str) and "type" in e and "code" in e
    return ok and (param is None or e.get("param") == param)


with txtest.mock() as m:
    port = txtest.free_port()
    env = ju.env_for(m.port, {"TENAX_ADMIN_TOKEN": ""})
    env.pop("TENAX_CONFIG", None)
    with txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store", store], env=env,
                     port=port) as srv:
        def req(method, path, body=None):
            return txtest.request_json(port, method, path, body)

        # --- one item, both forms ---------------------------------------------------------
        st, _, page = req("GET", "/v1/owners/1/items?status=success")
        F.check(st == 200 and len(page.get("data", [])) == 2, "status filter: %r" % page)
        ok_id = page["data"][0]["id"] if st == 200 and page.get("data") else 1
        st, hdr, it = req("GET", "/v1/items/%d" % ok_id)
        F.check(st == 200 and hdr.get("content-type", "").startswith("application/json"),
                "GET /v1/items/{id} 200 JSON")
        F.check(list(it.keys()) == ITEM_KEYS + ["history"], "item keys: %r" % list(it))
        F.check(it["status"] == "success" and isinstance(it["result"], list) and it["result"] and
                all(isinstance(t, str) for t in it["result"]), "tags result: %r" % it["result"])
        F.check(it["model"] == "gpt-4o-mini" and it["prompt_version"] == 1 and it["attempts"] == 1,
                "model, prompt_version, attempts")
        F.check(len(it["history"]) == 1 and set(it["history"][0]) == HIST_KEYS and
                it["history"][0]["class"] == "ok", "history: %r" % it["history"])
        F.check(it["created_at"].endswith("Z") and it["retry_after"] is None and
                it["error"] is None and it["error_class"] is None, "times and nulls")
        st, _, post = req("GET", "/posts/%d" % ok_id)
        F.check(st == 200 and list(post.keys()) == ITEM_KEYS + ["history"] + SEED_EXTRA,
                "seed item keys: %r" % list(post or {}))
        F.check(post.get("tags") == it["result"] and post.get("tagging_status") == "success" and
                post.get("tagging_attempts") == 1 and post.get("user_id") == 1 and
                post.get("last_tagging_attempt") == it["last_attempt_at"] and
                post.get("tagging_error") is None, "seed fields: %r" % post)
        st, _, doc = req("GET", "/v1/items/999999")
        F.check(st == 404 and is_openai_error(doc), "missing item → 404 OpenAI style")
        st, _, doc = req("GET", "/posts/abc")
        F.check(st == 404 and is_openai_error(doc), "non-numeric id → 404")
        st, _, doc = req("GET", "/v1/owners/f/items?status=failed")
        fi = doc.get("data", [{}])[0] if st == 200 and doc.get("data") else {}
        F.check(len(doc.get("data", [])) == 3 and fi.get("error_class") == "server" and
                fi.get("error") and "history" not in fi, "failed items in a page, no history")

        # --- stats, both forms --------------------------------------------------------------
        st, _, s = req("GET", "/v1/owners/1/stats")
        F.check(st == 200 and list(s.keys()) == ["owner", "total", "with_result",
                                                 "without_result", "need_retry", "by_status",
                                                 "enabled", "max_attempts"], "stats keys %r" % s)
        F.check(s.get("owner") == "1" and s.get("total") == 3 and s.get("with_result") == 2 and
                s.get("without_result") == 1 and s.get("by_status", {}).get("skipped") == 1 and
                list(s.get("by_status", {}).keys()) == ["pending", "processing", "success",
                                                        "failed", "retrying", "skipped"] and
                s.get("enabled") is True and s.get("max_attempts") == 5, "stats: %r" % s)
        st, _, s = req("GET", "/users/1/posts/tagging_stats")
        F.check(st == 200 and list(s.keys()) == ["user_id", "total_posts", "posts_with_tags",
                                                 "posts_without_tags", "posts_need_retry",
                                                 "stats_by_status", "tagging_enabled",
                                                 "max_retry_attempts"], "seed stats keys %r" % s)
        F.check(s.get("user_id") == 1 and s.get("total_posts") == 3 and
                s.get("posts_with_tags") == 2 and s.get("max_retry_attempts") == 5,
                "seed stats values %r" % s)

        # --- import: array, idempotent, skipped, validation -----------------------------------
        items = [{"owner": "p", "id": "p%d" % i, "text": "text number %d" % i} for i in range(5)]
        items.append({"owner": "p", "id": "blank", "text": "   "})
        st, _, res = req("POST", "/v1/items", items)
        F.check(st == 201 and res.get("inserted") == 6 and res.get("skipped") == 1 and
                res.get("existing") == 0 and len(res.get("data", [])) == 6, "import: %r" % res)
        ids = [r["id"] for r in res.get("data", [])]
        F.check(all(set(r) == {"id", "owner", "external_id", "task"} for r in res.get("data", [])),
                "import rows carry our ids")
        st, _, res2 = req("POST", "/v1/items", items[:2])
        F.check(st == 201 and res2.get("inserted") == 0 and res2.get("existing") == 2 and
                [r["id"] for r in res2.get("data", [])] == ids[:2], "idempotent import")
        st, _, one = req("POST", "/v1/items", {"owner": 7, "id": 42, "text": "one object"})
        F.check(st == 201 and isinstance(one.get("id"), int) and
                one["data"][0]["owner"] == "7" and one["data"][0]["external_id"] == "42",
                "one object, numeric owner/id: %r" % one)
        st, _, blank = req("GET", "/v1/items/%d" % ids[5])
        F.check(st == 200 and blank.get("status") == "skipped", "empty text → skipped")
        st, _, doc = req("POST", "/v1/items", [{"id": "a", "text": "x"}, {"owner": "p", "text": "x"}])
        F.check(st == 400 and is_openai_error(doc, "items[1].id") and
                "items[1].id" in doc["error"]["message"], "400 names field and index: %r" % doc)
        st, _, doc = req("POST", "/v1/items", {"id": "a", "text": ["x"]})
        F.check(st == 400 and is_openai_error(doc, "text"), "text must be a string")
        st, _, doc = req("POST", "/v1/items", {"id": "a", "text": "x", "task": "nosuch"})
        F.check(st == 400 and is_openai_error(doc, "task"), "unknown task → 400")
        st, _, doc = txtest.request_json(port, "POST", "/v1/items", b"{\"id\": ")
        F.check(st == 400 and is_openai_error(doc), "bad JSON → 400")
        st, _, doc = txtest.request_json(port, "POST", "/v1/items", b"\xff\xfe garbage")
        F.check(st == 400 and is_openai_error(doc), "garbage → 400")
        st, _, doc = req("POST", "/v1/items", [])
        F.check(st == 400 and is_openai_error(doc), "empty array → 400")

        # --- pagination with the cursor ----------------------------------------------------
        seen, after, pages = [], 0, 0
        while pages < 10:
            st, _, pg = req("GET", "/v1/owners/p/items?limit=2&after=%d" % after)
            if st != 200:
                break
            pages += 1
            seen += [r["id"] for r in pg["data"]]
            F.check(all(list(r.keys()) == ITEM_KEYS for r in pg["data"]), "page item keys")
            if pg["next_after"] is None:
                break
            after = pg["next_after"]
        F.check(seen == sorted(ids) and pages == 3, "3 pages cover every item once: %r" % seen)
        st, _, pg = req("GET", "/users/p/posts?limit=4")
        F.check(st == 200 and pg.get("user_id") == "p" and len(pg.get("posts", [])) == 4 and
                pg.get("next_after") == sorted(ids)[3] and
                all(k in pg["posts"][0] for k in SEED_EXTRA), "seed page: %r" % list(pg or {}))
        for q, param in (("status=done", "status"), ("limit=0", "limit"), ("limit=5000", "limit"),
                         ("after=x", "after")):
            st, _, doc = req("GET", "/v1/owners/p/items?" + q)
            F.check(st == 400 and is_openai_error(doc, param), "bad %s → 400 %r" % (q, doc))
        st, _, doc = req("GET", "/v1/owners/%ff/stats")
        F.check(st == 400 and is_openai_error(doc), "owner not UTF-8 → 400")

        # --- retry ---------------------------------------------------------------------------
        st, _, r = req("POST", "/v1/owners/f/retry")
        F.check(st == 202 and r == {"status": "queued", "owner": "f", "force": False,
                                    "limit": 50, "selected": 0},
                "retry without force leaves failed items: %r" % r)
        st, _, r = req("POST", "/v1/owners/f/retry?force=true&limit=2")
        F.check(st == 202 and r == {"status": "queued", "owner": "f", "force": True, "limit": 2,
                                    "selected": 2}, "retry force limit 2: %r" % r)
        st, _, r = req("POST", "/users/nobody/posts/retry_tagging?force=1")
        F.check(st == 202 and r == {"status": "queued", "user_id": "nobody", "force": True,
                                    "limit": 50, "selected": 0}, "seed retry: %r" % r)
        st, _, doc = req("POST", "/v1/owners/f/retry?limit=-1")
        F.check(st == 400 and is_openai_error(doc, "limit"), "retry bad limit → 400")
        st, _, doc = req("POST", "/v1/owners/f/retry?force=perhaps")
        F.check(st == 400 and is_openai_error(doc, "force"), "retry bad force → 400")
        st, _, s = req("GET", "/v1/owners/f/stats")
        F.check(st == 200 and s["by_status"]["failed"] == 1, "one failed item left: %r" % s)

        # --- regenerate ----------------------------------------------------------------------
        st, _, r = req("POST", "/v1/items/%d/regenerate" % ok_id)
        F.check(st == 202 and r == {"status": "queued", "id": ok_id}, "regenerate: %r" % r)
        st, _, it2 = req("GET", "/v1/items/%d" % ok_id)
        F.check(st == 200 and it2["status"] in ("pending", "processing", "success") and
                len(it2["history"]) >= 1 and it2["attempts"] <= 1,
                "regenerated item: queued again, history kept: %r" % it2)
        # the scheduler in serve (kicked by the API) works it again through the mock
        def regenerated():
            st, _, x = req("GET", "/v1/items/%d" % ok_id)
            return st == 200 and x["status"] == "success" and len(x["history"]) == 2 and x
        x = txtest.wait_until(regenerated, 20, "the regenerated item to succeed again")
        F.check(x["attempts"] == 1 and x["history"][0]["n"] == 1 and x["history"][1]["n"] == 1,
                "regenerated: one new attempt, the old row kept: %r" % x["history"])

        def imported_done():
            st, _, x = req("GET", "/v1/owners/p/stats")
            return st == 200 and x["with_result"] == 5 and x
        x = txtest.wait_until(imported_done, 20, "the imported items to be worked through")
        F.check(x["by_status"]["skipped"] == 1 and x["total"] == 6, "owner p done: %r" % x)
        st, _, r = req("POST", "/posts/%d/regenerate_tags" % ok_id)
        F.check(st == 202 and r.get("status") == "queued" and r.get("id") == ok_id, "seed regen")
        st, _, doc = req("POST", "/v1/items/%d/regenerate" % ids[5])
        F.check(st == 409 and is_openai_error(doc), "regenerate a skipped item → 409")
        st, _, doc = req("POST", "/v1/items/999999/regenerate")
        F.check(st == 404 and is_openai_error(doc), "regenerate a missing item → 404")
        st, _, doc = req("GET", "/v1/items/1/regenerate")
        F.check(st == 405, "wrong method → 405")

        # --- tasks ---------------------------------------------------------------------------
        st, _, t = req("GET", "/v1/tasks")
        tags = [x for x in t.get("data", []) if x.get("name") == "tags"]
        F.check(st == 200 and tags and tags[0]["active_version"] == 1, "built-in tags task")
        spec = {"name": "summary", "system_prompt": "Summarise.",
                "user_template": "Text: {{text}}", "parser": "text"}
        st, _, v1 = req("POST", "/v1/tasks", spec)
        F.check(st == 201 and v1.get("version") == 1 and v1.get("active") is True and
                set(v1) == {"name", "version", "active", "system_prompt", "user_template",
                            "response_format", "parser", "model", "created_at"}, "create %r" % v1)
        st, _, doc = req("POST", "/v1/tasks", spec)
        F.check(st == 409 and is_openai_error(doc), "create twice → 409")
        spec2 = dict(spec, system_prompt="Summarise in one line.", model="m2")
        del spec2["name"]
        st, _, v2 = req("POST", "/v1/tasks/summary/versions", spec2)
        F.check(st == 201 and v2.get("version") == 2 and v2.get("active") is False, "v2 %r" % v2)
        st, _, v3 = req("POST", "/v1/tasks/summary/versions", dict(spec2, activate=True))
        F.check(st == 201 and v3.get("version") == 3 and v3.get("active") is True, "v3 active")
        st, _, a = req("POST", "/v1/tasks/summary/versions/1/activate")
        F.check(st == 200 and a.get("version") == 1 and a.get("active") is True, "rollback to v1")
        st, _, vs = req("GET", "/v1/tasks/summary/versions")
        F.check(st == 200 and vs.get("active_version") == 1 and
                [v["version"] for v in vs.get("data", [])] == [1, 2, 3] and
                vs["data"][1]["system_prompt"] == "Summarise in one line.",
                "versions never edited: %r" % vs)
        st, _, cur = req("GET", "/v1/tasks/summary")
        F.check(st == 200 and cur.get("version") == 1, "GET /v1/tasks/{name}: the active one")
        st, _, doc = req("POST", "/v1/tasks/summary/versions/7/activate")
        F.check(st == 404 and is_openai_error(doc), "activate a missing version → 404")
        st, _, doc = req("POST", "/v1/tasks", dict(spec, name="x", user_template="no slot"))
        F.check(st == 400 and is_openai_error(doc, "user_template"), "template needs {{text}}")
        st, _, doc = req("POST", "/v1/tasks", dict(spec, name="y", parser="xml"))
        F.check(st == 400 and is_openai_error(doc, "parser"), "parser must be known")
        st, _, res = req("POST", "/v1/items", {"owner": "s", "id": "1", "text": "t",
                                               "task": "summary"})
        F.check(st == 201 and res["data"][0]["task"] == "summary", "an item on the new task")

# --- with TENAX_ADMIN_TOKEN every mutating route needs the token; reads stay open -------------
port = txtest.free_port()
env = ju.env_for(None, {"TENAX_ADMIN_TOKEN": "s3cret-token-value"})
env.pop("TENAX_CONFIG", None)
with txtest.Proc(["serve", "--listen", "127.0.0.1:%d" % port, "--store", store], env=env,
                 port=port) as srv:
    body = {"owner": "auth", "id": "1", "text": "needs a token"}
    for method, path, b in (("POST", "/v1/items", body), ("POST", "/v1/owners/1/retry", None),
                            ("POST", "/posts/1/regenerate_tags", None),
                            ("POST", "/v1/tasks/summary/versions/1/activate", None)):
        st, _, doc = txtest.request_json(port, method, path, b)
        F.check(st == 401 and is_openai_error(doc), "%s %s without the token → 401" % (method, path))
        st, _, doc = txtest.request_json(port, method, path, b,
                                         {"Authorization": "Bearer wrong"})
        F.check(st == 401, "%s %s with a wrong token → 401" % (method, path))
    st, _, doc = txtest.request_json(port, "POST", "/v1/items", body,
                                     {"Authorization": "Bearer s3cret-token-value"})
    F.check(st == 201 and doc.get("inserted") == 1, "with the token → 201: %r" % doc)
    st, _, doc = txtest.request_json(port, "GET", "/v1/owners/auth/stats")
    F.check(st == 200 and doc.get("total") == 1, "reads need no token")
    F.check("s3cret-token-value" not in srv.log(), "the token is never logged")

F.finish()
