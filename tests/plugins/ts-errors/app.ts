// TEST FIXTURE: a TypeScript plugin that fails in every way a plugin author's code can, to show
// each failure is contained as a clear tool error (never a trap dump) while other calls are served.
import { fetch, invalidArguments, plugin, tool, ToolError } from '@warden/plugin-sdk';

export const server = plugin({
  tools: [
    tool({
      name: 'boom',
      description: 'Throws an ordinary Error.',
      input: { type: 'object', properties: { why: { type: 'string' } } },
      handler: ({ why }) => {
        throw new Error(why ?? 'kaboom');
      },
    }),
    tool({
      name: 'picky',
      description: 'Invalid arguments below 0, a tool error at 0, else the number.',
      input: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
      handler: ({ n }) => {
        if (n < 0) throw invalidArguments('n must be >= 0');
        if (n === 0) throw new ToolError('zero is not interesting');
        return String(n);
      },
    }),
    tool({
      name: 'spin',
      description: 'Never returns.',
      handler: () => {
        for (;;) {
          // spin
        }
      },
    }),
    tool({
      name: 'hog',
      description: 'Allocates without bound.',
      handler: () => {
        const hoard: Uint8Array[] = [];
        for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
      },
    }),
    tool({
      name: 'recurse',
      description: 'Recurses without bound.',
      handler: () => {
        const down = (depth: number): number => down(depth + 1) + 1;
        return down(0);
      },
    }),
    tool({
      name: 'huge',
      description: "Returns more than the host's result limit.",
      // 2 MiB: twice the 1 MiB cap. (4 MiB took 1.2 s of the 1.5 s limit in a debug build alone,
      // and ran out of time under a loaded CI run.)
      handler: () => 'x'.repeat(2 << 20),
    }),
    tool({
      name: 'read_file',
      description: 'Tries to read a host file.',
      handler: async () => (await fetch('file:///etc/passwd')).text(),
    }),
    tool({
      name: 'open_socket',
      description: 'Tries to open a TCP connection.',
      handler: async () => (await fetch('http://127.0.0.1:5432/')).text(),
    }),
    tool({
      name: 'reject',
      description: 'Returns a promise that rejects.',
      handler: async () => {
        await Promise.resolve();
        throw new TypeError('async trouble');
      },
    }),
  ],
});
