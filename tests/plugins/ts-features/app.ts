// TEST FIXTURE: every contract 0.2 feature of the TypeScript SDK (tests/e2e/sdk_features.rs
// runs the same checks against tests/plugins/py-features): a tool that reports progress, logs and
// asks the user (elicitation), rich content with structured output, a resource, a resource
// template with completion, and a prompt with a completed argument.
import { image, message, plugin, prompt, resource, result, text, tool } from '@warden/plugin-sdk';

// A 1x1 red PNG.
const PIXEL = Uint8Array.from(
  atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='),
  (c) => c.charCodeAt(0),
);
const TOPICS = ['alpha', 'beta', 'gamma'];
const LANGUAGES = ['python', 'rust', 'typescript'];

export const server = plugin({
  tools: [
    tool({
      name: 'ask',
      description: 'Asks the user for their name, reporting progress.',
      handler: (_args, cx) => {
        cx.info('asking for a name');
        const { name } = cx.elicit('who', 'What is your name?', {
          type: 'object',
          properties: { name: { type: 'string' } },
          required: ['name'],
        });
        cx.progress(1, 3, 'answered');
        cx.progress(2, 3);
        cx.progress(3, 3, 'done');
        return `Hello, ${name}!`;
      },
    }),
    tool({
      name: 'picture',
      description: 'A red pixel: text, an image and structured content.',
      output: { type: 'object', properties: { width: { type: 'integer' }, height: { type: 'integer' } } },
      handler: () => result([text('a red pixel'), image(PIXEL, 'image/png')], { structured: { width: 1, height: 1 } }),
    }),
  ],
  resources: [
    // Declared first and overlapping `notes://topics/{topic}`, with a scope of its own in the
    // manifest: a caller without that scope reads neither (tests/e2e/sdk_features.rs).
    resource({
      uri: 'notes://{section}/{name}',
      name: 'private',
      description: 'Private notes, by section',
      mimeType: 'text/plain',
      read: (_uri, { section, name }) => `PRIVATE ${section}/${name}`,
    }),
    resource({
      uri: 'notes://readme',
      name: 'readme',
      description: 'Read me first',
      mimeType: 'text/plain',
      read: () => 'Read me first.',
    }),
    resource({
      uri: 'notes://topics/{topic}',
      name: 'topic',
      description: 'Notes on a topic',
      mimeType: 'text/plain',
      read: (_uri, { topic }) => `Notes on ${topic}.`,
      complete: { topic: (value) => TOPICS.filter((t) => t.startsWith(value)) },
    }),
  ],
  prompts: [
    prompt({
      name: 'review',
      description: 'Asks for a code review',
      arguments: [
        { name: 'code', description: 'The code to review' },
        {
          name: 'language',
          required: false,
          complete: (value) => LANGUAGES.filter((l) => l.startsWith(value)),
        },
      ],
      render: ({ code, language }) => [message('user', `Review this ${language ?? 'code'}:\n${code}`)],
    }),
  ],
});
