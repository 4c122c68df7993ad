'use strict';
// The npm openai AzureOpenAI client, streaming, for tests/e2e/test_streaming.py.
// Args: MODE DEPLOYMENT MAX_TOKENS. MODE: usage (include_usage), plain (without),
// raw (without; prints the raw SSE body the app received), responses (Responses
// API). Prints one JSON line.
const { AzureOpenAI } = require('openai');

const client = new AzureOpenAI({
  endpoint: process.env.TF_EMULATOR_URL,
  apiKey: process.env.TF_AZURE_KEY,
  apiVersion: '2024-10-21',
  maxRetries: 0,
});

async function main(mode, dep, max) {
  const messages = [{ role: 'user', content: 'stream test ' + mode }];
  const out = { mode };
  try {
    if (mode === 'raw') {
      const resp = await client.chat.completions
        .create({ model: dep, messages, max_tokens: max, stream: true })
        .asResponse();
      out.raw = await resp.text();
    } else if (mode === 'responses') {
      const s = await client.responses.create({ model: dep, input: 'stream test responses', max_output_tokens: max, stream: true });
      out.events = 0;
      for await (const e of s) {
        out.events++;
        if (e.type === 'response.completed') out.usage = e.response.usage;
      }
    } else {
      const s = await client.chat.completions.create({
        model: dep, messages, max_tokens: max, stream: true,
        ...(mode === 'usage' ? { stream_options: { include_usage: true } } : {}),
      });
      out.chunks = 0;
      out.text = '';
      out.usage_chunks = 0;
      for await (const ch of s) {
        out.chunks++;
        if (ch.usage) { out.usage = ch.usage; out.usage_chunks++; }
        if (ch.choices && ch.choices[0] && ch.choices[0].delta) out.text += ch.choices[0].delta.content || '';
      }
    }
  } catch (e) {
    out.error = { name: e.constructor.name, status: e.status, message: e.message };
  }
  console.log(JSON.stringify(out));
}

main(process.argv[2], process.argv[3], Number(process.argv[4])).catch((e) => { console.error(e); process.exit(1); });
