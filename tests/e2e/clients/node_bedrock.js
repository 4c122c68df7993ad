// npm `@aws-sdk/client-bedrock-runtime` (Debian node 18) over HTTP/1.1
// (NodeHttpHandler; the SDK's default is h2): two InvokeModel calls against
// endpoint BASE_URL with dummy keys; print each response body's sha256.
// Usage: node_bedrock.js BASE_URL PAYLOAD_FILE N (N is ignored)
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const sdk = require('module').createRequire(path.join(__dirname, '..', 'node', 'package.json'));
const { BedrockRuntimeClient, InvokeModelCommand } = sdk('@aws-sdk/client-bedrock-runtime');
const { NodeHttpHandler } = sdk('@smithy/node-http-handler');

const [base, payloadFile] = process.argv.slice(2);
const body = fs.readFileSync(payloadFile);
const client = new BedrockRuntimeClient({
  region: 'us-east-1', endpoint: base, maxAttempts: 1,
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  requestHandler: new NodeHttpHandler({ requestTimeout: 60000 }),
});

(async () => {
  for (const i of [1, 2]) {
    const r = await client.send(new InvokeModelCommand({
      modelId: 'anthropic.claude-3-haiku-20240307-v1:0', body,
      contentType: 'application/json', accept: 'application/json',
    }));
    console.log(`invoke${i}`, crypto.createHash('sha256').update(r.body).digest('hex'));
  }
})().catch((e) => { console.error(e); process.exit(1); });
