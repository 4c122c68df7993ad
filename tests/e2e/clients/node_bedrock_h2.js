// npm `@aws-sdk/client-bedrock-runtime` with its DEFAULT request handler
// (NodeHttp2Handler: HTTP/2) on Debian node 18, against BASE_URL with the
// emulator's test credentials. Runs the steps given as JSON, one client for
// all of them, and prints one JSON line per step:
//   {op, ok, name, message, attempts, http, usage, text}
// Steps: [{"op": "invoke"|"converse"|"converse_stream", "model": ID,
//          "max_tokens": N, "text": "..."}]
// A step with "wait_for": PATH starts only once that file exists (the test
// changes TokenFence's state in between; up to 120 s).
// With a third argument "shared", the handler is the SDK's own
// NodeHttp2Handler with disableConcurrentStreams: false, so that the steps
// share one HTTP/2 session (the default opens a session per request).
// Usage: node_bedrock_h2.js BASE_URL STEPS_JSON [shared]
'use strict';
const path = require('path');
const sdk = require('module').createRequire(path.join(__dirname, '..', 'node', 'package.json'));
const {
  BedrockRuntimeClient, InvokeModelCommand, ConverseCommand, ConverseStreamCommand,
} = sdk('@aws-sdk/client-bedrock-runtime');

const [base, stepsJson, mode] = process.argv.slice(2);
const steps = JSON.parse(stepsJson);
const options = {
  region: 'us-east-1', endpoint: base, maxAttempts: 3,
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
};
if (mode === 'shared') {
  const { NodeHttp2Handler } = sdk('@smithy/node-http-handler');
  options.requestHandler = new NodeHttp2Handler({ disableConcurrentStreams: false });
}
const client = new BedrockRuntimeClient(options);

async function run(step) {
  const messages = [{ role: 'user', content: [{ text: step.text || 'hello' }] }];
  if (step.op === 'invoke') {
    const body = JSON.stringify({
      anthropic_version: 'bedrock-2023-05-31', max_tokens: step.max_tokens || 10,
      messages: [{ role: 'user', content: step.text || 'hello' }],
    });
    const r = await client.send(new InvokeModelCommand({
      modelId: step.model, body, contentType: 'application/json', accept: 'application/json',
    }));
    const j = JSON.parse(Buffer.from(r.body).toString());
    return { usage: j.usage, text: j.content && j.content[0] && j.content[0].text, http: r.$metadata.httpStatusCode, body };
  }
  if (step.op === 'converse') {
    const r = await client.send(new ConverseCommand({
      modelId: step.model, messages, inferenceConfig: { maxTokens: step.max_tokens || 10 },
    }));
    return { usage: r.usage, text: r.output.message.content[0].text, http: r.$metadata.httpStatusCode };
  }
  if (step.op === 'converse_stream') {
    const r = await client.send(new ConverseStreamCommand({
      modelId: step.model, messages, inferenceConfig: { maxTokens: step.max_tokens || 10 },
    }));
    let text = '';
    let usage = null;
    for await (const ev of r.stream) {
      if (ev.contentBlockDelta) text += ev.contentBlockDelta.delta.text || '';
      if (ev.metadata) usage = ev.metadata.usage;
    }
    return { usage, text, http: r.$metadata.httpStatusCode };
  }
  throw new Error('unknown op ' + step.op);
}

async function waitFor(file) {
  const fs = require('fs');
  const deadline = Date.now() + 120000;
  while (!fs.existsSync(file) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

(async () => {
  for (const step of steps) {
    if (step.wait_for) await waitFor(step.wait_for);
    try {
      const r = await run(step);
      console.log(JSON.stringify({ op: step.op, ok: true, ...r }));
    } catch (e) {
      console.log(JSON.stringify({
        op: step.op, ok: false, name: e.name, message: e.message,
        attempts: e.$metadata && e.$metadata.attempts,
        http: e.$metadata && e.$metadata.httpStatusCode,
      }));
    }
  }
  client.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
