'use strict';
// The npm openai AzureOpenAI client for the policy tests: one call per
// argument, printing "ok …" or "error STATUS NAME: message" per call.
// Args: finetune | chat:DEPLOYMENT ...   Env: TF_EMULATOR_URL, TF_AZURE_KEY.
const { AzureOpenAI } = require('openai');

const client = new AzureOpenAI({
  endpoint: process.env.TF_EMULATOR_URL,
  apiKey: process.env.TF_AZURE_KEY,
  apiVersion: '2024-10-21',
});

async function one(what) {
  try {
    if (what === 'finetune') {
      const j = await client.fineTuning.jobs.create({ model: 'gpt-4o-mini', training_file: 'file-abc123' });
      console.log(`ok finetune ${j.id}`);
    } else {
      const dep = what.split(':')[1];
      const r = await client.chat.completions.create({
        model: dep, messages: [{ role: 'user', content: 'policy test' }], max_tokens: 8,
      });
      console.log(`ok chat ${dep} ${r.usage.completion_tokens}`);
    }
  } catch (e) {
    console.log(`error ${e.status} ${e.constructor.name}: ${e.message}`);
  }
}

(async () => {
  for (const what of process.argv.slice(2)) await one(what);
})();
