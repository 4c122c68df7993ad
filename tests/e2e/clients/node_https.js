// node `https` (Debian node 18, shared libssl): POST /echo, then GET
// /download/N; print each response body's sha256.
// Usage: node_https.js BASE_URL PAYLOAD_FILE N
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const https = require('https');

const [base, payloadFile, nArg] = process.argv.slice(2);
const payload = fs.readFileSync(payloadFile);
const n = Number(nArg);

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const headers = body ? { 'Content-Type': 'application/json', 'Content-Length': body.length } : {};
    const req = https.request(base + path, { method, headers, timeout: 60000 }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`${path}: HTTP ${res.statusCode}`));
      const h = crypto.createHash('sha256');
      res.on('data', (c) => h.update(c));
      res.on('end', () => resolve(h.digest('hex')));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

(async () => {
  console.log('post', await call('POST', '/echo', payload));
  if (n > 0) console.log('get', await call('GET', `/download/${n}`));
})().catch((e) => { console.error(e); process.exit(1); });
