import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * deploy/slack/manifest.yaml asks for the bot scopes of the Slack Web API methods meshdrift calls,
 * no more and no fewer, and points interactivity at the route meshdrift serves. The methods are read
 * from the code (every `<client>.<family>.<method>(` call in the files that use the Slack client), so a new
 * call fails here until its scope is in the table below and in the manifest.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/**
 * The bot-token scopes each method needs, from the "Scopes" facts of its page in Slack's reference:
 * https://docs.slack.dev/reference/methods/chat.postMessage, .../chat.update (both `chat:write`);
 * https://docs.slack.dev/reference/methods/conversations.history ("Relevant *:history scope":
 * `channels:history` for public channels, `groups:history` for private ones; meshdrift posts to
 * channels, never to DMs, so not `im:history` or `mpim:history`);
 * https://docs.slack.dev/reference/methods/usergroups.users.list (`usergroups:read`).
 */
const METHOD_SCOPES: Readonly<Record<string, readonly string[]>> = {
  'chat.postMessage': ['chat:write'],
  'chat.update': ['chat:write'],
  'conversations.history': ['channels:history', 'groups:history'],
  'usergroups.users.list': ['usergroups:read'],
};

/** The Web API families (https://docs.slack.dev/reference/methods), as the client's properties. */
const FAMILIES =
  'admin|api|apps|assistant|auth|bookmarks|bots|calls|canvases|chat|conversations|dialog|dnd|emoji|files|functions|lists|migration|oauth|openid|pins|reactions|reminders|rtm|search|slackLists|stars|team|tooling|usergroups|users|views|workflows';
/** A method called on a Slack WebClient: `ch.client().chat.update(`, `client.usergroups.users.list(`, `historyClient.conversations.history(`. */
const CALL = new RegExp(`[cC]lient(?:\\(\\))?\\.((?:${FAMILIES})(?:\\.[A-Za-z]+)+)\\(`, 'g');

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** Source without comments, so a method named in a comment is not taken for a call. */
const code = (path: string): string =>
  read(path)
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`])\/\/.*$/gm, '$1');

/** `method -> files` for every Slack Web API call in the files that use the Slack client. */
function calledMethods(): Map<string, string[]> {
  const files = tsFiles('src').filter((f) => f.startsWith('src/deliver/slack/') || read(f).includes("from '@slack/web-api'"));
  const out = new Map<string, string[]>();
  for (const file of files) {
    for (const m of code(file).matchAll(CALL)) {
      const method = m[1] ?? '';
      out.set(method, [...(out.get(method) ?? []), file]);
    }
  }
  return out;
}

const manifestSchema = z.object({
  display_information: z.object({ name: z.string().min(1).max(35), description: z.string().max(140).optional() }),
  features: z.object({ bot_user: z.object({ display_name: z.string().min(1).max(80) }) }),
  oauth_config: z.strictObject({ scopes: z.strictObject({ bot: z.array(z.string()) }) }),
  settings: z.object({
    interactivity: z.object({ is_enabled: z.literal(true), request_url: z.string() }),
    socket_mode_enabled: z.literal(false),
  }),
});
const raw: unknown = parse(read('deploy/slack/manifest.yaml'));
const manifest = manifestSchema.parse(raw);

describe('deploy/slack/manifest.yaml', () => {
  const called = calledMethods();

  it('finds the calls meshdrift makes (the scan works)', () => {
    expect([...called.keys()]).toEqual(expect.arrayContaining(['chat.postMessage', 'chat.update', 'conversations.history']));
  });

  it('knows the scope of every Slack method the code calls', () => {
    const unknown = [...called].filter(([method]) => METHOD_SCOPES[method] === undefined).map(([method, files]) => `${method} (${files.join(', ')})`);
    expect(unknown, 'add each to METHOD_SCOPES with its bot scope from its page in Slack reference, and to the manifest').toEqual([]);
  });

  it('asks for exactly the bot scopes of those methods, and no user scopes', () => {
    const needed = new Set([...called.keys()].flatMap((method) => METHOD_SCOPES[method] ?? []));
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual([...needed].sort());
    expect(new Set(manifest.oauth_config.scopes.bot).size).toBe(manifest.oauth_config.scopes.bot.length);
  });

  it('lists no method the code no longer calls', () => {
    expect(Object.keys(METHOD_SCOPES).filter((method) => !called.has(method))).toEqual([]);
  });

  it('sends button clicks to the route meshdrift serves for them, over HTTPS, and subscribes to no events', () => {
    const route = /router\.post\('([^']+)'/.exec(read('src/http/slack-actions.ts'))?.[1];
    expect(route).toBe('/slack/actions');
    expect(manifest.settings.interactivity.request_url).toBe(`https://<your-meshdrift>${route}`);
    expect(Object.keys(z.object({ settings: z.record(z.string(), z.unknown()) }).parse(raw).settings)).not.toContain('event_subscriptions');
  });

  it('is the manifest the Slack setup in docs/operations.md points to', () => {
    expect(read('docs/operations.md')).toContain('(../deploy/slack/manifest.yaml)');
  });
});
