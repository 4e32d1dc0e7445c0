// The official OpenAI SDK, unchanged, pointed at tenax: non-stream, a retried call (the
// X-Tenax-Attempts header read through the SDK's raw response), stream, models, the Responses
// API (responses.create, plain and streamed), and errors (the
// gateway's own 400 and the provider's 401) surfacing as the SDK's own APIError classes. Extra
// body fields (`tenax_mock`, the mock's per-request script) go through the SDK untouched. Prints
// one JSON line of results for the Python test (tests/integration/test_openai_sdk.py).
import OpenAI from "openai";

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: "sk-client-test", maxRetries: 0, timeout: 20000 });
const out = {};
const msgs = [{ role: "user", content: "Tag this post: the central bank raised rates" }];

async function caught(fn) {
  try {
    await fn();
    return null;
  } catch (e) {
    return {
      status: e.status ?? null,
      type: e.type ?? e.error?.type ?? null,
      code: e.code ?? e.error?.code ?? null,
      name: e.constructor?.name ?? null,
      isApiError: e instanceof OpenAI.APIError,
      message: String(e.message ?? "").slice(0, 200),
    };
  }
}

// Each section records its result, or the error that broke it, so one failure shows them all.
async function section(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { failed: String(e?.message ?? e).slice(0, 300), status: e?.status ?? null };
  }
}

await section("nonstream", async () => {
  const r = await client.chat.completions.create({ model: "gpt-4o-mini", messages: msgs });
  return { content: r.choices[0].message.content, model: r.model, finish: r.choices[0].finish_reason };
});

await section("retried", async () => {
  const { data: rr, response } = await client.chat.completions
    .create({ model: "gpt-4o-mini", messages: msgs, tenax_mock: { id: "sdk-retry", script: ["500", "ok"] } })
    .withResponse();
  return {
    content: rr.choices[0].message.content,
    attempts: response.headers.get("x-tenax-attempts"),
    model: response.headers.get("x-tenax-model"),
  };
});

await section("stream", async () => {
  const stream = await client.chat.completions.create({
    model: "gpt-4o-mini",
    stream: true,
    messages: [{ role: "user", content: "Say something long" }],
    tenax_mock: { id: "sdk-stream", script: ["503", "ok"] },
  });
  let text = "", chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  return { chunks, text };
});

await section("models", async () => (await client.models.list()).data.map((m) => m.id));

// The Responses API: plain (after a 500, retried) and streamed (after a response.failed event
// before any output, retried), read with the SDK's own helpers.
await section("responses", async () => {
  const { data: r, response } = await client.responses
    .create({ model: "gpt-4o-mini", input: "Say hello", tenax_mock: { id: "sdk-resp", script: ["500", "ok"] } })
    .withResponse();
  return {
    text: r.output_text,
    status: r.status,
    inputTokens: r.usage?.input_tokens ?? null,
    attempts: response.headers.get("x-tenax-attempts"),
  };
});

await section("responsesStream", async () => {
  const stream = await client.responses.create({
    model: "gpt-4o-mini",
    input: "Say something long",
    stream: true,
    tenax_mock: { id: "sdk-resp-stream", script: ["err200", "ok"] },
  });
  let text = "", types = [], completed = null;
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === "response.output_text.delta") text += ev.delta;
    if (ev.type === "response.completed") completed = ev.response.status;
  }
  return { text, types, completed };
});

out.error = await caught(() => client.chat.completions.create({ model: "gpt-4o-mini", messages: "not a list" }));
out.upstreamError = await caught(() =>
  client.chat.completions.create({ model: "gpt-4o-mini", messages: msgs, tenax_mock: { id: "sdk-401", script: ["401"] } }),
);
console.log(JSON.stringify(out));
