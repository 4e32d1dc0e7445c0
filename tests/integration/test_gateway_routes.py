#!/usr/bin/env python3
"""SPEC §4.1 routes and headers through the real binary: /v1/completions and /v1/embeddings get
the same retries as chat, GET /v1/models is relayed, a request without `model` uses AI_MODEL,
every answer carries X-Tenax-Attempts / X-Tenax-Model / X-Tenax-Endpoint, and the upstream key
(AI_API_KEY) replaces the client's Authorization — which is passed through only when tenax has
no key of its own (SPEC §2)."""
import sys

import gwkit
import txtest

F = txtest.Failures()


def with_mock():
    with txtest.mock() as mk, gwkit.Gateway(["http://127.0.0.1:%d/v1" % mk.port]) as gw:
        body = {"model": "m-cmpl", "prompt": "Say hi", "tenax_mock": {"id": "r-cmpl",
                                                                      "script": ["500", "ok"]}}
        st, h, doc = txtest.request_json(gw.port, "POST", "/v1/completions", body)
        F.check(st == 200 and h.get("x-tenax-attempts") == "2",
                "completions: retried to a 200, got %s attempts %r" % (st, h.get("x-tenax-attempts")))
        F.check(isinstance(doc, dict) and isinstance(doc["choices"][0].get("text"), str),
                "completions: a text completion, got %r" % (doc,))
        body = {"model": "m-emb", "input": ["a", "b"], "tenax_mock": {"id": "r-emb",
                                                                     "script": ["502", "ok"]}}
        st, h, doc = txtest.request_json(gw.port, "POST", "/v1/embeddings", body)
        F.check(st == 200 and h.get("x-tenax-attempts") == "2",
                "embeddings: retried to a 200, got %s attempts %r" % (st, h.get("x-tenax-attempts")))
        F.check(isinstance(doc, dict) and len(doc.get("data", [])) == 2
                and isinstance(doc["data"][0].get("embedding"), list),
                "embeddings: two vectors, got %r" % (doc,))
        stats = gwkit.mock_stats(mk.port)
        F.check(stats["by_script"].get("r-cmpl") == 2 and stats["by_script"].get("r-emb") == 2,
                "completions/embeddings: 2 attempts each at the mock, got %r" % stats["by_script"])
        st, h, doc = txtest.request_json(gw.port, "GET", "/v1/models")
        ids = [m.get("id") for m in doc.get("data", [])] if isinstance(doc, dict) else []
        F.check(st == 200 and "gpt-4o-mini" in ids and "mock-small" in ids,
                "models: the upstream's list relayed, got %s %r" % (st, ids))
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-hdrs"))
        F.check(st == 200 and h.get("x-tenax-attempts") == "1" and h.get("x-tenax-model") == "m-hdrs"
                and gwkit.endpoint_is(h.get("x-tenax-endpoint"), 0,
                                      "http://127.0.0.1:%d/v1" % mk.port),
                "headers: X-Tenax-Attempts 1, X-Tenax-Model, X-Tenax-Endpoint on a plain answer, "
                "got %r" % h)


def default_model_and_keys():
    with gwkit.FakeUpstream() as up, gwkit.Gateway([up.url], {"AI_MODEL": "m-default"}) as gw:
        body = {"messages": [{"role": "user", "content": "no model named"}]}
        st, h, doc, raw = gwkit.chat(gw.port, body, headers={"Authorization": "Bearer sk-client"})
        F.check(st == 200 and up.models() == ["m-default"] and h.get("x-tenax-model") == "m-default",
                "no model: AI_MODEL is used, upstream saw %r, X-Tenax-Model %r"
                % (up.models(), h.get("x-tenax-model")))
        auth = up.req_headers[0].get("authorization") if up.req_headers else None
        F.check(auth == "Bearer sk-test-gateway",
                "AI_API_KEY replaces the client's key upstream, upstream saw %r"
                % (auth[:12] + "…" if auth else auth))
        F.check("sk-test-gateway" not in gw.log() and "sk-client" not in gw.log(),
                "no key in the log")
    with gwkit.FakeUpstream() as up, gwkit.Gateway([up.url], {"AI_API_KEY": None}) as gw:
        st, h, doc, raw = gwkit.chat(gw.port, gwkit.chat_body("m-pass"),
                                     headers={"Authorization": "Bearer sk-client"})
        auth = up.req_headers[0].get("authorization") if up.req_headers else None
        F.check(st == 200 and auth == "Bearer sk-client",
                "no upstream key: the client's Authorization is passed through, upstream saw %r"
                % (auth[:12] + "…" if auth else auth))


def main():
    with_mock()
    default_model_and_keys()
    F.finish()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
