'use strict';
// The npm `openai` AzureOpenAI client against the emulator: chat, a stream
// with include_usage, embeddings. Prints one JSON object with what it sent
// (request bodies, captured through the client's fetch option) and what it
// got, for tests/e2e/test_node_openai.py to check against the bill.
// Env: TF_EMULATOR_URL, TF_AZURE_KEY; trust via NODE_EXTRA_CA_CERTS.

const { AzureOpenAI } = require('openai');

const sent = [];
async function recordingFetch(input, init) {
  if (init && typeof init.body === 'string') sent.push(init.body);
  return fetch(input, init);
}

const client = new AzureOpenAI({
  endpoint: process.env.TF_EMULATOR_URL,
  apiKey: process.env.TF_AZURE_KEY,
  apiVersion: '2024-10-21',
  fetch: recordingFetch,
  maxRetries: 0,
});

async function main() {
  const out = { node: process.version };

  const chat = await client.chat.completions.create({
    model: 'my-gpt4o',
    messages: [{ role: 'user', content: 'Hello from node' }],
    max_tokens: 6,
  });
  out.chat = {
    body: sent[sent.length - 1],
    usage: chat.usage,
    model: chat.model,
    text: chat.choices[0].message.content,
    finish: chat.choices[0].finish_reason,
  };

  const stream = await client.chat.completions.create({
    model: 'my-gpt4o',
    messages: [{ role: 'user', content: 'Stream to node' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const s = { chunks: 0, text: '', usage: null, firstChoices: null, finish: null };
  for await (const ch of stream) {
    if (s.chunks === 0) s.firstChoices = ch.choices.length;
    s.chunks++;
    const c = ch.choices[0];
    if (c && c.delta && c.delta.content) s.text += c.delta.content;
    if (c && c.finish_reason) s.finish = c.finish_reason;
    if (ch.usage) s.usage = ch.usage;
  }
  s.body = sent[sent.length - 1];
  out.stream = s;

  const emb = await client.embeddings.create({ model: 'my-embed', input: ['one', 'two'] });
  out.embeddings = {
    body: sent[sent.length - 1],
    usage: emb.usage,
    model: emb.model,
    n: emb.data.length,
    dims: emb.data[0].embedding.length,
  };

  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
