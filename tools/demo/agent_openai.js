'use strict';
// A small Azure OpenAI agent for the demo: the official npm `openai`
// client, no TokenFence code. Usage: node agent_openai.js SCENE
// (tour | downgrade). Prints one line per call.
const { AzureOpenAI } = require('openai');

const client = new AzureOpenAI({
  endpoint: process.env.TF_EMULATOR_URL_NAME,
  apiKey: process.env.TF_AZURE_KEY,
  apiVersion: '2024-10-21',
});

async function chat(deployment, text, maxTokens) {
  try {
    const r = await client.chat.completions.create({
      model: deployment,
      messages: [{ role: 'user', content: text }],
      max_tokens: maxTokens,
    });
    console.log(`ok ${deployment} -> ${r.model} in=${r.usage.prompt_tokens} out=${r.usage.completion_tokens}`);
  } catch (e) {
    console.log(`error ${e.status}: ${e.message}`);
  }
}

async function main(scene) {
  if (scene === 'tour') {
    await chat('gpt-4o', 'What does TokenFence do?', 60);
    const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'budgets' });
    console.log(`ok text-embedding-3-small in=${e.usage.prompt_tokens}`);
  } else if (scene === 'downgrade') {
    await chat('gpt-4o', 'Draft the release notes for this week.', 1500);
    await chat('gpt-4o', 'Now a short version.', 200);
  }
}

main(process.argv[2]).catch((e) => { console.error(e); process.exit(1); });
