// A plain node `http2` client: one session (one connection) for every
// request, sequentially. Prints one JSON line per request:
//   {i, status, headers, length, sha256, text, error}
// and a last line {session: {error, goaway}, rss}.
// Requests: [{"method": "POST", "path": "/...", "headers": {...},
//             "body": "...", "body_len": N (N bytes of "x" instead),
//             "timeout_ms": N}]
// Usage: node_h2.js BASE_URL REQUESTS_JSON
'use strict';
const crypto = require('crypto');
const http2 = require('http2');

const [base, reqsJson] = process.argv.slice(2);
const reqs = JSON.parse(reqsJson);
const session = http2.connect(base, { maxSendHeaderBlockLength: 1 << 20 });
const state = { error: null, goaway: null };
session.on('error', (e) => { state.error = e.code || e.message; });
session.on('goaway', (code) => { state.goaway = code; });

function one(i, r) {
  return new Promise((resolve) => {
    const out = { i };
    const body = r.body_len !== undefined ? Buffer.alloc(r.body_len, 'x') : Buffer.from(r.body || '');
    const headers = Object.assign({ ':method': r.method || 'POST', ':path': r.path }, r.headers || {});
    if (body.length) headers['content-length'] = String(body.length);
    let st;
    try {
      st = session.request(headers, { endStream: body.length === 0 });
    } catch (e) {
      out.error = e.code || e.message;
      resolve(out);
      return;
    }
    const chunks = [];
    const timer = setTimeout(() => { out.error = 'timeout'; st.close(http2.constants.NGHTTP2_CANCEL); }, r.timeout_ms || 20000);
    st.on('response', (h) => {
      out.status = h[':status'];
      out.headers = {};
      for (const k of Object.keys(h)) if (!k.startsWith(':')) out.headers[k] = String(h[k]).slice(0, 200);
    });
    st.on('data', (d) => chunks.push(d));
    st.on('error', (e) => { out.error = out.error || e.code || e.message; });
    st.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      out.length = all.length;
      out.sha256 = crypto.createHash('sha256').update(all).digest('hex');
      out.text = all.slice(0, 400).toString();
      if (st.rstCode && !out.error) out.error = 'rst ' + st.rstCode;
      resolve(out);
    });
    if (body.length) st.end(body);
  });
}

(async () => {
  for (let i = 0; i < reqs.length; i++) console.log(JSON.stringify(await one(i, reqs[i])));
  console.log(JSON.stringify({ session: state, rss: process.memoryUsage().rss }));
  session.close();
  setTimeout(() => process.exit(0), 2000).unref();
})();
