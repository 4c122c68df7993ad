'use strict';
// A long-lived npm `openai` AzureOpenAI client for the accounting and
// enforcement tests (tests/e2e/test_accounting.py, test_enforcement.py).
// Reads one JSON command per line on stdin, answers each with one JSON line,
// so the test can ask `tokenfence status` while the process is alive.
//
// Commands ({op: ...}):
//   chat        {model, messages, max_tokens?, max_completion_tokens?}
//   embeddings  {model, input}
//   responses   {model, input, max_output_tokens?}
//   exit
// Answers: {ok, result: {usage, model, ...}} or {ok: false, error: {class,
// status, message, code, type, isAPIError}}, and always `fetches`: how many
// HTTP requests the SDK made for this command (its retries included), and
// `sent`: the JSON bodies it sent. The client keeps the SDK's default
// retries (2) unless TF_OPENAI_MAX_RETRIES says otherwise, so a retried
// error shows in `fetches`.
// Env: TF_AZURE_ENDPOINT (default TF_EMULATOR_URL), TF_AZURE_KEY; trust via
// NODE_EXTRA_CA_CERTS.

const readline = require('readline');
const { AzureOpenAI, APIError } = require('openai');

let fetches = 0;
let sent = [];
async function countingFetch(input, init) {
  fetches++;
  if (init && typeof init.body === 'string') sent.push(init.body);
  return fetch(input, init);
}

const retries = process.env.TF_OPENAI_MAX_RETRIES;
const client = new AzureOpenAI({
  endpoint: process.env.TF_AZURE_ENDPOINT || process.env.TF_EMULATOR_URL,
  apiKey: process.env.TF_AZURE_KEY,
  apiVersion: '2024-10-21',
  fetch: countingFetch,
  ...(retries !== undefined ? { maxRetries: Number(retries) } : {}),
});

async function run(m) {
  if (m.op === 'chat') {
    const req = { model: m.model, messages: m.messages };
    if (m.max_tokens !== undefined) req.max_tokens = m.max_tokens;
    if (m.max_completion_tokens !== undefined) req.max_completion_tokens = m.max_completion_tokens;
    const { data: r, response } = await client.chat.completions.create(req).withResponse();
    return { usage: r.usage, model: r.model, text: r.choices[0].message.content,
             finish: r.choices[0].finish_reason, encoding: response.headers.get('content-encoding') };
  }
  if (m.op === 'embeddings') {
    const { data: r, response } = await client.embeddings
      .create({ model: m.model, input: m.input }).withResponse();
    return { usage: r.usage, model: r.model, n: r.data.length,
             encoding: response.headers.get('content-encoding') };
  }
  if (m.op === 'responses') {
    const req = { model: m.model, input: m.input };
    if (m.max_output_tokens !== undefined) req.max_output_tokens = m.max_output_tokens;
    const { data: r, response } = await client.responses.create(req).withResponse();
    return { usage: r.usage, model: r.model, status: r.status, text: r.output_text,
             encoding: response.headers.get('content-encoding') };
  }
  throw new Error('unknown op ' + m.op);
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    if (m.op === 'exit') break;
    fetches = 0;
    sent = [];
    const out = {};
    try {
      out.result = await run(m);
      out.ok = true;
    } catch (e) {
      out.ok = false;
      out.error = {
        class: e && e.constructor ? e.constructor.name : typeof e,
        isAPIError: e instanceof APIError,
        status: e && e.status,
        message: String(e && e.message),
        code: e && e.code,
        type: e && e.type,
      };
    }
    out.fetches = fetches;
    out.sent = sent;
    process.stdout.write(JSON.stringify(out) + '\n');
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
