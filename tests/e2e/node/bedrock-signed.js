'use strict';
// Makes @aws-sdk/client-bedrock-runtime sign and send real requests over
// HTTP/1.1 (NodeHttpHandler, as WIRE.md §5 describes) to the capture
// listener of tests/e2e/test_rewrite.py, which records the raw bytes.
// Args: <endpoint URL> <model id>. Credentials from the AWS_* environment.
// Errors after sending (the listener's answer is not a real one) are ignored.

const { BedrockRuntimeClient, InvokeModelCommand, ConverseCommand } =
  require('@aws-sdk/client-bedrock-runtime');
const { NodeHttpHandler } = require('@smithy/node-http-handler');

async function main() {
  const [endpoint, model] = process.argv.slice(2);
  const client = new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint,
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
  const body = JSON.stringify({
    anthropic_version: 'bedrock-2023-05-31',
    max_tokens: 100,
    messages: [{ role: 'user', content: 'Say hello from the JS SDK.' }],
  });
  const calls = [
    new InvokeModelCommand({ modelId: model, body, contentType: 'application/json',
                             accept: 'application/json' }),
    new ConverseCommand({ modelId: model,
                          messages: [{ role: 'user', content: [{ text: 'Hello, converse.' }] }],
                          inferenceConfig: { maxTokens: 100 } }),
  ];
  for (const c of calls) {
    try { await client.send(c); } catch (e) { /* the listener's reply */ }
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
