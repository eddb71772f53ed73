import { plugin, tool, resource, prompt, invalidArguments, inputRequired } from '@warden/plugin-sdk';

const greet = tool<{ name: string }>({
  name: 'greet',
  description: 'Greets someone by name.',
  input: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
  handler({ name }, ctx) {
    if (name === '') throw invalidArguments('name must not be empty');
    ctx.log('info', `greeting ${name}`);
    return `Hello, ${name}! You are ${ctx.caller.subject}.`;
  },
});

const boom = tool({
  name: 'boom', description: 'Throws a plain Error.', input: { type: 'object' },
  handler() { throw new Error('kaboom'); },
});

const dbTool = tool({
  name: 'db', description: 'Runs a write it may not run.', input: { type: 'object' },
  handler(_a, ctx) { ctx.db!.execute('delete from t'); return 'unreachable'; },
});

const ask = tool({
  name: 'ask', description: 'Asks the user first.', input: { type: 'object' },
  handler(_a, ctx) {
    if (ctx.answers.who === undefined)
      return inputRequired({ who: { tag: 'elicitation', val: { message: 'Who?', requestedSchema: '{"type":"object"}' } } }, { round: 1 });
    return { structured: { answer: ctx.answers.who, state: ctx.state } };
  },
});

const slow = tool({
  name: 'slow', description: 'Awaits a timer and reports progress.', input: { type: 'object' },
  async handler(_a, ctx) {
    for (let i = 1; i <= 3; i++) { await new Promise((r) => setTimeout(r, 5)); ctx.progress(i, 3); }
    return 'done';
  },
});

export const server = plugin({
  tools: [greet, boom, dbTool, ask, slow],
  resources: [resource({ uri: 'docs://{page}', name: 'docs', mimeType: 'text/plain', read: (uri) => `content of ${uri}` })],
  prompts: [prompt({ name: 'hello', description: 'Say hi', arguments: [{ name: 'who', required: true }], render: (a) => `Say hi to ${a.who}` })],
  complete: (_of, _arg, value) => ['alice', 'bob', 'carol'].filter((n) => n.startsWith(value)),
});
