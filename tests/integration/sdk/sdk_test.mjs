// The official OpenAI SDK, unchanged, pointed at tenax: non-stream, stream, models, and an error
// surfacing as the SDK's own error type. Prints one JSON line of results for the Python test.
import OpenAI from "openai";

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: "sk-client-test", maxRetries: 0, timeout: 20000 });
const out = {};

const r = await client.chat.completions.create({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Tag this post: the central bank raised rates" }],
});
out.nonstream = { content: r.choices[0].message.content, model: r.model, finish: r.choices[0].finish_reason };

const stream = await client.chat.completions.create({
  model: "gpt-4o-mini",
  stream: true,
  messages: [{ role: "user", content: "Say something long" }],
});
let text = "", chunks = 0;
for await (const chunk of stream) {
  chunks++;
  text += chunk.choices[0]?.delta?.content ?? "";
}
out.stream = { chunks, text };

const models = await client.models.list();
out.models = models.data.map((m) => m.id);

try {
  await client.chat.completions.create({ model: "gpt-4o-mini", messages: "not a list" });
  out.error = null;
} catch (e) {
  out.error = { status: e.status, type: e.type ?? e.error?.type ?? null, isApiError: e instanceof OpenAI.APIError };
}
console.log(JSON.stringify(out));
