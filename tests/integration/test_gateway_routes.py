#!/usr/bin/env python3
"""docs/gateway.md routes and headers through the real binary: /v1/completions and /v1/embeddings get
the same retries as chat, GET /v1/models is relayed, a request without `model` uses AI_MODEL,
every answer carries X-Tenax-Attempts / X-Tenax-Model / X-Tenax-Endpoint, and the upstream key
(AI_API_KEY) replaces the client's Authorization — which is passed through only when tenax has
no key of its own (docs/config.md)."""
import json
import socket
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


def pipelined():
    """Two requests in one write on a keep-alive connection, the first slower (a retry): the
    answers come back in request order."""
    with txtest.mock() as mk, gwkit.Gateway(["http://127.0.0.1:%d/v1" % mk.port]) as gw:
        def req(model, sid, script):
            b = json.dumps(gwkit.chat_body(model, sid, script)).encode()
            return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b))
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        s.sendall(req("m-pipe-1", "pipe-1", ["500", "500", "ok"]) + req("m-pipe-2", "pipe-2", ["ok"]))
        f = s.makefile("rb")
        models = []
        try:
            for _ in range(2):
                status = f.readline()
                n = 0
                while True:
                    ln = f.readline()
                    if ln in (b"\r\n", b""):
                        break
                    k, _, v = ln.decode("latin-1").partition(":")
                    if k.strip().lower() == "content-length":
                        n = int(v)
                doc = json.loads(f.read(n))
                models.append((status.split(b" ")[1], doc.get("model")))
        except (OSError, ValueError) as e:
            F.check(False, "pipelined: %r after %r" % (e, models))
        finally:
            s.close()
        F.check(models == [(b"200", "m-pipe-1"), (b"200", "m-pipe-2")],
                "pipelined: answers in request order, got %r" % models)


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
    pipelined()
    default_model_and_keys()
    F.finish()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
