#!/usr/bin/env python3
"""docs/gateway.md streams: relayed chunk by chunk (the client has the first events while the upstream
still holds the rest), a retry before the first byte gives one clean stream, a failure after the
first chunk ends the stream with an SSE `error` event (and no retry), and a client that hangs up
mid-stream makes the gateway close the upstream request."""
import json
import re
import sys

import gwkit
import txtest

F = txtest.Failures()


def nevents(body):
    return body.count(b"\n\n")


def data_docs(events):
    out = []
    for e in events:
        if e["data"] and e["data"] != "[DONE]":
            try:
                out.append(json.loads(e["data"]))
            except ValueError:
                out.append(None)
    return out


def content_of(docs):
    s = ""
    for d in docs:
        try:
            s += d["choices"][0]["delta"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
    return s


def is_error_event(e):
    if e["event"] == "error":
        return True
    try:
        return isinstance(json.loads(e["data"]).get("error"), dict)
    except (ValueError, AttributeError):
        return False


def chunk_by_chunk():
    m = "m-stream"
    events = [gwkit.sse_event({"id": "c1", "object": "chat.completion.chunk", "created": 1,
                               "model": m, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                               "content": ""},
                                                        "finish_reason": None}]}),
              gwkit.chunk_event(m, "Hel"), gwkit.chunk_event(m, "lo, "), gwkit.chunk_event(m, "world"),
              gwkit.chunk_event(m, None, "stop"), "data: [DONE]\n\n"]
    with gwkit.FakeUpstream([{"kind": "sse", "events": events, "hold_after": 2}]) as up, \
            gwkit.Gateway([up.url]) as gw:
        c = gwkit.RawClient(gw.port, "/v1/chat/completions", gwkit.chat_body(m, stream=True))
        try:
            F.check(c.status == 200 and c.headers.get("content-type", "").startswith(
                "text/event-stream"), "stream: 200 text/event-stream, got %s %r"
                % (c.status, c.headers.get("content-type")))
            try:
                c.read_until(lambda b: nevents(b) >= 2, 5)
                F.check(nevents(c.body) >= 2 and not c.done,
                        "stream: the first 2 events reach the client while the upstream holds "
                        "the rest")
            except AssertionError as e:
                F.check(False, "stream: not relayed chunk by chunk: the first events did not "
                        "arrive while the upstream held the rest (%s)" % e)
            up.release()
            c.read_all(10)
            evs = c.events()
            F.check(c.done, "stream: the response ends cleanly (last chunk), eof=%s" % c.eof)
            F.check(evs and evs[-1]["data"] == "[DONE]", "stream: ends with [DONE], got %r"
                    % (evs[-1:] if evs else None))
            F.check(content_of(data_docs(evs)) == "Hello, world",
                    "stream: the content arrives whole, got %r" % content_of(data_docs(evs)))
            F.check(len(evs) == len(events), "stream: %d events relayed, got %d"
                    % (len(events), len(evs)))
            F.check(c.headers.get("x-tenax-attempts") == "1",
                    "stream: X-Tenax-Attempts 1, got %r" % c.headers.get("x-tenax-attempts"))
        finally:
            c.close()


def with_mock():
    with txtest.mock() as mk:
        url = "http://127.0.0.1:%d/v1" % mk.port
        with gwkit.Gateway([url]) as gw:
            # A plain stream from the mock: several events, every data line JSON, then [DONE].
            c = gwkit.RawClient(gw.port, "/v1/chat/completions",
                                gwkit.chat_body("m-s-ok", "s-ok", ["ok"], stream=True))
            c.read_all(10)
            c.close()
            evs = c.events()
            docs = data_docs(evs)
            F.check(c.status == 200 and len(docs) >= 3 and None not in docs,
                    "mock stream: several JSON events, got %s %r" % (c.status, c.body[:300]))
            F.check(evs and evs[-1]["data"] == "[DONE]", "mock stream: ends with [DONE]")
            F.check(all(d.get("object") == "chat.completion.chunk" for d in docs if d),
                    "mock stream: every event a chat.completion.chunk")

            # A retry before the first byte: the client sees one clean stream.
            c = gwkit.RawClient(gw.port, "/v1/chat/completions",
                                gwkit.chat_body("m-s-retry", "s-retry", ["500", "ok"], stream=True))
            c.read_all(10)
            c.close()
            evs = c.events()
            docs = data_docs(evs)
            roles = [d for d in docs if d and d["choices"] and d["choices"][0].get("delta", {})
                     .get("role")]
            F.check(c.status == 200 and c.headers.get("x-tenax-attempts") == "2",
                    "stream retry: 200 after 2 attempts, got %s %r" % (
                        c.status, c.headers.get("x-tenax-attempts")))
            F.check(len(roles) == 1 and sum(1 for e in evs if e["data"] == "[DONE]") == 1
                    and not any(is_error_event(e) for e in evs),
                    "stream retry: one clean stream (1 role chunk, 1 [DONE], no error), got %r"
                    % c.body[:400])
            F.check(gwkit.mock_stats(mk.port)["by_script"].get("s-retry") == 2,
                    "stream retry: the mock saw 2 attempts")

            # The mock's `midstream` writes the first events, then cuts the connection (FIN with
            # the chunked body unterminated): a failure after the first byte, every time. So
            # the client gets those events and then an SSE error event, after 1 attempt.
            c = gwkit.RawClient(gw.port, "/v1/chat/completions",
                                gwkit.chat_body("m-s-mid", "s-mid", ["midstream", "ok"],
                                                stream=True))
            c.read_all(10)
            c.close()
            evs = c.events()
            n = gwkit.mock_stats(mk.port)["by_script"].get("s-mid")
            F.check(c.status == 200 and len(evs) >= 2 and is_error_event(evs[-1]) and n == 1
                    and not is_error_event(evs[0])
                    and not any(e["data"] == "[DONE]" for e in evs),
                    "mock midstream: the first events, then an SSE error event after 1 attempt, "
                    "got %s after %r attempts: %r" % (c.status, n, c.body[-300:]))


def usage_after_the_commit():
    """A slow stream (one event per upstream chunk, the usage chunk last and alone): events after
    the commit that do not name the usage are relayed without being parsed, and the usage chunk
    is still read: its counts reach tenax_tokens_total exactly."""
    with txtest.mock(args=["--slow-ms", "20"]) as mk:
        with gwkit.Gateway(["http://127.0.0.1:%d/v1" % mk.port]) as gw:
            m = "m-s-usage"
            c = gwkit.RawClient(gw.port, "/v1/chat/completions",
                                gwkit.chat_body(m, "s-usage", ["slow"], stream=True,
                                                stream_options={"include_usage": True}))
            c.read_all(10)
            c.close()
            evs = c.events()
            docs = [d for d in data_docs(evs) if d]
            usage = [d["usage"] for d in docs if d.get("usage")]
            F.check(c.status == 200 and len(usage) == 1 and evs[-1]["data"] == "[DONE]"
                    and content_of(docs) != "",
                    "slow stream with usage: content, one usage chunk, [DONE]; got %s %r"
                    % (c.status, c.body[-400:]))
            if not usage:
                return

            def tokens(kind):
                _, _, text = txtest.request(gw.port, "GET", "/metrics")
                mt = re.search(r'tenax_tokens_total\{model="%s",kind="%s"\} (\d+)' % (m, kind),
                               text.decode())
                return int(mt.group(1)) if mt else None
            try:
                txtest.wait_until(lambda: tokens("completion") is not None, 5, "streamed usage")
            except AssertionError:
                pass
            F.check(tokens("completion") == usage[0]["completion_tokens"] and
                    tokens("prompt") == usage[0]["prompt_tokens"],
                    "slow stream: the usage chunk counts exactly (completion %r prompt %r, "
                    "metrics %r %r)" % (usage[0]["completion_tokens"], usage[0]["prompt_tokens"],
                                        tokens("completion"), tokens("prompt")))


def midstream_strict():
    """The upstream cuts the stream (RST) after the client has its first chunks: the stream
    ends with an SSE error event, no [DONE], no retry."""
    m = "m-s-cut"
    events = [gwkit.chunk_event(m, "one "), gwkit.chunk_event(m, "two "),
              gwkit.chunk_event(m, "three"), "data: [DONE]\n\n"]
    with gwkit.FakeUpstream([{"kind": "sse", "events": events, "hold_after": 2,
                              "then": "reset"}]) as up, gwkit.Gateway([up.url]) as gw:
        c = gwkit.RawClient(gw.port, "/v1/chat/completions", gwkit.chat_body(m, stream=True))
        try:
            c.read_until(lambda b: nevents(b) >= 2, 5)
        except AssertionError as e:
            F.check(False, "midstream: the first chunks never arrived (%s)" % e)
        up.release()
        c.read_all(10)
        c.close()
        evs = c.events()
        F.check(c.status == 200 and content_of(data_docs(evs[:2])) == "one two ",
                "midstream: the first chunks reach the client, got %r" % c.body[:300])
        F.check(evs and is_error_event(evs[-1]),
                "midstream: the stream ends with an SSE error event, got %r" % (evs[-1:],))
        F.check(not any(e["data"] == "[DONE]" for e in evs), "midstream: no [DONE] after a failure")
        F.check(up.count() == 1, "midstream: no retry after the first byte, upstream saw %d"
                % up.count())


def client_hangs_up():
    m = "m-s-gone"
    events = [gwkit.chunk_event(m, "one"), gwkit.chunk_event(m, "two"),
              gwkit.chunk_event(m, "three"), "data: [DONE]\n\n"]
    with gwkit.FakeUpstream([{"kind": "sse", "events": events, "hold_after": 1}]) as up, \
            gwkit.Gateway([up.url], {"AI_TIMEOUT_MS": "30000"}) as gw:
        c = gwkit.RawClient(gw.port, "/v1/chat/completions", gwkit.chat_body(m, stream=True))
        try:
            c.read_until(lambda b: nevents(b) >= 1, 5)
        except AssertionError as e:
            F.check(False, "hang-up: the first event never arrived (%s)" % e)
        c.close()
        try:
            txtest.wait_until(lambda: up.peer_closed == 1, 5,
                              "the gateway to close the upstream stream after the client left")
            F.check(True, "")
        except AssertionError as e:
            F.check(False, "hang-up mid-stream: %s" % e)
        F.check(up.count() == 1, "hang-up: no retry, upstream saw %d" % up.count())


def timeouts():
    m = "m-s-to"
    full = [gwkit.chunk_event(m, "late "), gwkit.chunk_event(m, "but whole"),
            gwkit.chunk_event(m, None, "stop"), "data: [DONE]\n\n"]
    # No first byte within AI_TIMEOUT_MS: retried, the client sees one clean stream.
    with gwkit.FakeUpstream([{"kind": "hang"}, {"kind": "sse", "events": full}]) as up, \
            gwkit.Gateway([up.url], {"AI_TIMEOUT_MS": "1000"}) as gw:
        c = gwkit.RawClient(gw.port, "/v1/chat/completions", gwkit.chat_body(m, stream=True))
        c.read_all(10)
        c.close()
        evs = c.events()
        F.check(c.status == 200 and c.headers.get("x-tenax-attempts") == "2"
                and content_of(data_docs(evs)) == "late but whole"
                and evs and evs[-1]["data"] == "[DONE]",
                "stream, first-byte timeout: retried into one clean stream, got %s %r"
                % (c.status, c.body[:300]))
        F.check(up.count() == 2, "stream, first-byte timeout: 2 attempts upstream, saw %d"
                % up.count())
    # The upstream goes silent after the first chunk for longer than AI_TIMEOUT_MS: the stream
    # ends with an SSE error event; no retry (a byte already reached the client).
    with gwkit.FakeUpstream([{"kind": "sse", "events": full, "hold_after": 1}]) as up, \
            gwkit.Gateway([up.url], {"AI_TIMEOUT_MS": "1000"}) as gw:
        c = gwkit.RawClient(gw.port, "/v1/chat/completions", gwkit.chat_body(m, stream=True))
        c.read_all(10)
        c.close()
        evs = c.events()
        F.check(c.status == 200 and evs and content_of(data_docs(evs[:1])) == "late ",
                "stream, gap timeout: the first chunk reached the client, got %r" % c.body[:300])
        F.check(evs and is_error_event(evs[-1]) and not any(e["data"] == "[DONE]" for e in evs),
                "stream, gap timeout: ends with an SSE error event, got %r" % (evs[-1:],))
        F.check(up.count() == 1, "stream, gap timeout: no retry, upstream saw %d" % up.count())


def main():
    chunk_by_chunk()
    timeouts()
    midstream_strict()
    with_mock()
    usage_after_the_commit()
    client_hangs_up()
    F.finish()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        sys.exit(1)
