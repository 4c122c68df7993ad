// npm `openai` AzureOpenAI client (Debian node 18): two chat completions on
// the Azure-like route, the payload (base64) as the user message; print the
// sha256 of each parsed response as JSON.
// Usage: node_openai.js BASE_URL PAYLOAD_FILE N (N is ignored)
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const sdk = require('module').createRequire(path.join(__dirname, '..', 'node', 'package.json'));
const { AzureOpenAI } = sdk('openai');

const [base, payloadFile] = process.argv.slice(2);
const text = fs.readFileSync(payloadFile).toString('base64');
const client = new AzureOpenAI({
  endpoint: base, apiKey: 'test-key', apiVersion: '2024-10-21',
  deployment: 'gpt-4o-mini', maxRetries: 0, timeout: 60000,
});

(async () => {
  for (const i of [1, 2]) {
    const r = await client.chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: text }],
    });
    console.log(`chat${i}`, crypto.createHash('sha256').update(JSON.stringify(r)).digest('hex'));
  }
})().catch((e) => { console.error(e); process.exit(1); });
