import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local fake of the Slack Web API (chat.postMessage, chat.update, conversations.history,
 * usergroups.users.list) on 127.0.0.1, port 0.
 * A chat.postMessage with `thread_ts` is a thread reply: it is kept in `replies` under its parent,
 * not in `messages` (the channel itself shows one line per thread). Message `metadata`
 * ({event_type, event_payload}) is kept with the message and returned by conversations.history
 * only with `include_all_metadata`, which, like Slack, takes a channel ID (a `#name` is
 * channel_not_found), answers newest first and pages with `response_metadata.next_cursor`.
 * Message ts are the current time, as Slack's are, so `oldest` works as it does there.
 *
 * Wire format as @slack/web-api 8 speaks it: POST `<url><method>` with
 * `application/x-www-form-urlencoded` args (objects such as `blocks` JSON-encoded into one field)
 * and `Authorization: Bearer <token>`; JSON bodies are accepted too, as Slack does. Answers as
 * Slack does: HTTP 200 with `ok:false` for platform errors, 429 + Retry-After when rate limited.
 */

export interface FakeSlackCall {
  method: string;
  args: Record<string, unknown>;
  authorization: string | undefined;
  at: number;
}

export interface FakeSlackMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: unknown[];
  updates: number;
  /** Set on thread replies: the ts of the parent message. */
  threadTs?: string;
  /** A thread reply also shown in the channel (`reply_broadcast`). */
  broadcast?: boolean;
  /** Message metadata as posted (or as last replaced by chat.update). */
  metadata?: FakeSlackMetadata;
}

export interface FakeSlackMetadata {
  event_type: string;
  event_payload: Record<string, unknown>;
}

export type FakeSlackAnswer =
  | { status: 429; retryAfterSeconds: number }
  | { status: number }
  | { slackError: string }
  /** Answer normally, but only after this delay (for client timeouts). */
  | { delayMs: number };

export interface FakeSlack {
  /** Base URL with trailing slash, e.g. http://127.0.0.1:PORT/api/ (what `slackApiUrl` takes). */
  url: string;
  /** chat.postMessage / chat.update requests, in order, including those answered with an error. */
  calls: FakeSlackCall[];
  /** Channel messages (not thread replies) by ts. */
  messages: Map<string, FakeSlackMessage>;
  /** Thread replies by parent ts, oldest first. */
  replies: Map<string, FakeSlackMessage[]>;
  /** User groups for usergroups.users.list: id → member user IDs (an unknown id answers `no_such_subteam`). */
  userGroups: Map<string, string[]>;
  /** The user group ids usergroups.users.list was asked for, in order. */
  userGroupLookups: string[];
  /** conversations.history requests, in order, including those answered with an error. */
  historyCalls: FakeSlackCall[];
  /**
   * The token's scopes. Unset (the default): every method is allowed. Set: chat.postMessage and
   * chat.update need `chat:write`, conversations.history `channels:history` (C…), `groups:history`
   * (G…) or `im:history` (D…); otherwise Slack's `missing_scope` answer, with `needed` and `provided`.
   */
  scopes: Set<string> | undefined;
  /**
   * A slow Slack: every call (any method) is handled only after this many ms, then answered as
   * usual, so a post lands even when the client has given up waiting. 0 (the default): at once.
   */
  answerDelayMs: number;
  /** The next n calls get this answer. */
  failNext(n: number, answer: FakeSlackAnswer): void;
  /** The next call that `match`es gets this answer (once); checked before `failNext`'s queue. */
  failNextMatching(match: (call: FakeSlackCall) => boolean, answer: FakeSlackAnswer): void;
  close(): Promise<void>;
}

/** Whether a recorded call posted a thread reply (chat.postMessage with `thread_ts`), not a channel message. */
export function isThreadReply(call: FakeSlackCall): boolean {
  return call.method === 'chat.postMessage' && typeof call.args.thread_ts === 'string' && call.args.thread_ts !== '';
}

const RECORDED_METHODS = new Set(['chat.postMessage', 'chat.update']);
// Slack's documented Block Kit limits; the fake enforces them so tests catch an oversized render.
const MAX_BLOCKS = 50;
const MAX_SECTION_TEXT = 3000;
const MAX_SECTION_FIELD = 2000;
const MAX_HEADER_TEXT = 150;
const MAX_TEXT = 40_000;

/** Starts the fake. With `token`, only `Bearer <token>` is accepted; otherwise any bearer token. */
export async function startFakeSlack(opts: { token?: string } = {}): Promise<FakeSlack> {
  const calls: FakeSlackCall[] = [];
  const messages = new Map<string, FakeSlackMessage>();
  const replies = new Map<string, FakeSlackMessage[]>();
  // Every message, replies included, by ts (chat.update edits either).
  const byTs = new Map<string, FakeSlackMessage>();
  const failures: FakeSlackAnswer[] = [];
  const userGroups = new Map<string, string[]>();
  const userGroupLookups: string[] = [];
  const matchedFailures: Array<{ match: (call: FakeSlackCall) => boolean; answer: FakeSlackAnswer }> = [];
  const historyCalls: FakeSlackCall[] = [];
  // Slack's ts is its clock in microseconds: now, strictly increasing.
  let lastMicros = 0;
  const nextTs = (): string => {
    lastMicros = Math.max(lastMicros + 1, Date.now() * 1000);
    return microsToTs(lastMicros);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { ok: false, error: 'fatal_error', detail: String(error) });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const body = await readBody(req);
    if (req.method !== 'POST' && req.method !== 'GET') return json(res, 405, { ok: false, error: 'method_not_allowed' });
    if (!url.pathname.startsWith('/api/')) return json(res, 404, { ok: false, error: 'not_found' });
    const method = url.pathname.slice('/api/'.length);
    const args = { ...Object.fromEntries(url.searchParams), ...parseArgs(req.headers['content-type'], body) };
    const authorization = req.headers.authorization;
    const call: FakeSlackCall = { method, args, authorization, at: Date.now() };
    if (RECORDED_METHODS.has(method)) calls.push(call);
    if (method === 'conversations.history') historyCalls.push(call);
    if (fake.answerDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, fake.answerDelayMs));

    const matched = matchedFailures.findIndex((f) => f.match(call));
    const failure = matched >= 0 ? matchedFailures.splice(matched, 1)[0]?.answer : failures.shift();
    if (failure !== undefined) {
      if ('delayMs' in failure) {
        await new Promise((resolve) => setTimeout(resolve, failure.delayMs));
      } else if ('slackError' in failure) {
        return json(res, 200, { ok: false, error: failure.slackError });
      } else if (failure.status === 429 && 'retryAfterSeconds' in failure) {
        res.setHeader('Retry-After', String(failure.retryAfterSeconds));
        return json(res, 429, { ok: false, error: 'ratelimited' });
      } else {
        res.writeHead(failure.status, { 'Content-Type': 'text/html' });
        res.end(`<html><body>${failure.status}</body></html>`);
        return;
      }
    }

    const auth = checkAuth(authorization, typeof args.token === 'string' ? args.token : undefined, opts.token);
    if (auth !== null) return json(res, 200, { ok: false, error: auth });
    const needed = neededScope(method, args.channel);
    if (fake.scopes !== undefined && needed !== undefined && !fake.scopes.has(needed)) {
      return json(res, 200, { ok: false, error: 'missing_scope', needed, provided: [...fake.scopes].join(',') });
    }

    switch (method) {
      case 'chat.postMessage':
        return json(res, 200, postMessage(args));
      case 'chat.update':
        return json(res, 200, update(args));
      case 'conversations.history':
        return json(res, 200, history(args));
      case 'usergroups.users.list': {
        const id = typeof args.usergroup === 'string' ? args.usergroup : '';
        userGroupLookups.push(id);
        if (id === '') return json(res, 200, { ok: false, error: 'invalid_arguments' });
        const users = userGroups.get(id);
        return json(res, 200, users === undefined ? { ok: false, error: 'no_such_subteam' } : { ok: true, users });
      }
      case 'auth.test':
        return json(res, 200, {
          ok: true,
          url: 'https://fake.slack.com/',
          team: 'fake',
          user: 'meshdrift',
          team_id: 'T0FAKE',
          user_id: 'U0FAKEBOT',
          bot_id: 'B0FAKEBOT',
        });
      default:
        return json(res, 200, { ok: false, error: 'unknown_method' });
    }
  }

  function postMessage(args: Record<string, unknown>): Record<string, unknown> {
    const channel = channelId(args.channel);
    if (channel === undefined) return { ok: false, error: 'channel_not_found' };
    const content = messageContent(args);
    if ('error' in content) return { ok: false, error: content.error };
    if (content.text === '' && content.blocks.length === 0) return { ok: false, error: 'no_text' };
    let threadTs: string | undefined;
    if (args.thread_ts !== undefined && args.thread_ts !== '') {
      if (typeof args.thread_ts !== 'string' || !/^\d+\.\d+$/.test(args.thread_ts)) return { ok: false, error: 'invalid_thread_ts' };
      const parent = byTs.get(args.thread_ts);
      if (parent === undefined || parent.channel !== channel) return { ok: false, error: 'thread_not_found' };
      // A reply to a reply lands in the same thread.
      threadTs = parent.threadTs ?? parent.ts;
    }
    const metadata = metadataOf(args.metadata);
    if (metadata === 'invalid') return { ok: false, error: 'invalid_metadata_format' };
    const ts = nextTs();
    const message: FakeSlackMessage = { channel, ts, text: content.text, blocks: content.blocks, updates: 0, ...(metadata === undefined ? {} : { metadata }) };
    if (threadTs === undefined) {
      messages.set(ts, message);
    } else {
      message.threadTs = threadTs;
      if (args.reply_broadcast === true || args.reply_broadcast === 'true') message.broadcast = true;
      replies.set(threadTs, [...(replies.get(threadTs) ?? []), message]);
    }
    byTs.set(ts, message);
    return {
      ok: true,
      channel,
      ts,
      message: {
        type: 'message',
        subtype: 'bot_message',
        text: content.text,
        user: 'U0FAKEBOT',
        bot_id: 'B0FAKEBOT',
        ts,
        ...(threadTs === undefined ? {} : { thread_ts: threadTs }),
        blocks: content.blocks,
      },
    };
  }

  function update(args: Record<string, unknown>): Record<string, unknown> {
    const channel = channelId(args.channel);
    if (channel === undefined) return { ok: false, error: 'channel_not_found' };
    if (typeof args.ts !== 'string') return { ok: false, error: 'invalid_arguments' };
    const existing = byTs.get(args.ts);
    if (existing === undefined || existing.channel !== channel) return { ok: false, error: 'message_not_found' };
    const content = messageContent(args);
    if ('error' in content) return { ok: false, error: content.error };
    if (content.text === '' && content.blocks.length === 0) return { ok: false, error: 'no_text' };
    const metadata = metadataOf(args.metadata);
    if (metadata === 'invalid') return { ok: false, error: 'invalid_metadata_format' };
    existing.text = content.text;
    existing.blocks = content.blocks;
    // Without `metadata`, chat.update leaves the message's metadata as it was.
    if (metadata !== undefined) existing.metadata = metadata;
    existing.updates += 1;
    return {
      ok: true,
      channel,
      ts: existing.ts,
      text: content.text,
      message: { type: 'message', text: content.text, user: 'U0FAKEBOT', blocks: content.blocks },
    };
  }

  // Channel messages (not thread replies) newer than `oldest` (and older than `latest`), newest
  // first, `limit` (default 100, at most 999) a page; the cursor is the offset of the next page.
  function history(args: Record<string, unknown>): Record<string, unknown> {
    if (typeof args.channel !== 'string' || !/^[CGD][A-Z0-9]{6,}$/.test(args.channel)) return { ok: false, error: 'channel_not_found' };
    const channel = args.channel;
    const inclusive = args.inclusive === true || args.inclusive === 'true' || args.inclusive === '1';
    const oldest = tsToMicros(args.oldest) ?? 0;
    const latest = tsToMicros(args.latest) ?? Number.MAX_SAFE_INTEGER;
    const limit = Math.min(999, Math.max(1, Number(args.limit ?? 100) || 100));
    let offset = 0;
    if (args.cursor !== undefined && args.cursor !== '') {
      const decoded = /^offset:(\d+)$/.exec(Buffer.from(String(args.cursor), 'base64url').toString('utf8'));
      if (decoded?.[1] === undefined) return { ok: false, error: 'invalid_cursor' };
      offset = Number(decoded[1]);
    }
    const withMetadata = args.include_all_metadata === true || args.include_all_metadata === 'true' || args.include_all_metadata === '1';
    const inRange = [...messages.values()]
      .filter((m) => m.channel === channel)
      .filter((m) => {
        const t = tsToMicros(m.ts) ?? 0;
        return (inclusive ? t >= oldest : t > oldest) && (inclusive ? t <= latest : t < latest);
      })
      .sort((a, b) => (tsToMicros(b.ts) ?? 0) - (tsToMicros(a.ts) ?? 0));
    const page = inRange.slice(offset, offset + limit);
    const hasMore = offset + limit < inRange.length;
    return {
      ok: true,
      messages: page.map((m) => ({
        type: 'message',
        user: 'U0FAKEBOT',
        bot_id: 'B0FAKEBOT',
        app_id: 'A0FAKEAPP',
        text: m.text,
        ts: m.ts,
        blocks: m.blocks,
        ...(m.updates > 0 ? { edited: { user: 'U0FAKEBOT', ts: m.ts } } : {}),
        ...(withMetadata && m.metadata !== undefined ? { metadata: m.metadata } : {}),
      })),
      has_more: hasMore,
      pin_count: 0,
      ...(hasMore ? { response_metadata: { next_cursor: Buffer.from(`offset:${offset + limit}`).toString('base64url') } } : {}),
    };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const fake: FakeSlack = {
    url: `http://127.0.0.1:${port}/api/`,
    calls,
    messages,
    replies,
    userGroups,
    userGroupLookups,
    historyCalls,
    scopes: undefined,
    answerDelayMs: 0,
    failNext(n, answer) {
      for (let i = 0; i < n; i++) failures.push(answer);
    },
    failNextMatching(match, answer) {
      matchedFailures.push({ match, answer });
    },
    async close() {
      // fetch keeps connections alive; without this, close() waits for them to time out.
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
  return fake;
}

function microsToTs(micros: number): string {
  return `${Math.floor(micros / 1_000_000)}.${String(micros % 1_000_000).padStart(6, '0')}`;
}

// `1732000000.000100` → microseconds; undefined for anything else.
function tsToMicros(ts: unknown): number | undefined {
  if (typeof ts !== 'string' && typeof ts !== 'number') return undefined;
  const m = /^(\d+)(?:\.(\d{1,6}))?$/.exec(String(ts));
  if (m?.[1] === undefined) return undefined;
  return Number(m[1]) * 1_000_000 + Number((m[2] ?? '').padEnd(6, '0'));
}

// The scope a bot token needs for a method, as Slack documents it (only the methods the fake serves).
function neededScope(method: string, channel: unknown): string | undefined {
  switch (method) {
    case 'chat.postMessage':
    case 'chat.update':
      return 'chat:write';
    case 'conversations.history': {
      const id = typeof channel === 'string' ? channel : '';
      return id.startsWith('G') ? 'groups:history' : id.startsWith('D') ? 'im:history' : 'channels:history';
    }
    case 'usergroups.users.list':
      return 'usergroups:read';
    default:
      return undefined;
  }
}

// Slack's message metadata: {event_type: string, event_payload: object}; absent is fine.
function metadataOf(value: unknown): FakeSlackMetadata | undefined | 'invalid' {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'object' || value === null) return 'invalid';
  const { event_type: eventType, event_payload: payload } = value as Record<string, unknown>;
  if (typeof eventType !== 'string' || eventType === '' || typeof payload !== 'object' || payload === null || Array.isArray(payload)) return 'invalid';
  return { event_type: eventType, event_payload: payload as Record<string, unknown> };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

function parseArgs(contentType: string | undefined, body: string): Record<string, unknown> {
  if (body === '') return {};
  if (contentType?.startsWith('application/json')) {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  }
  // Form encoding: the SDK JSON-encodes every non-scalar argument into one field.
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    args[key] = /^\s*[[{]/.test(value) ? tryJson(value) : value;
  }
  return args;
}

function tryJson(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

// Slack answers not_authed without a token and invalid_auth for a wrong one, both with HTTP 200.
function checkAuth(authorization: string | undefined, bodyToken: string | undefined, expected: string | undefined): string | null {
  const bearer = authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : undefined;
  const token = bearer ?? bodyToken;
  if (token === undefined || token === '') return 'not_authed';
  if (expected !== undefined && token !== expected) return 'invalid_auth';
  return null;
}

// IDs (C…, G…, D…) are kept; names (`#mesh-drift` or `mesh-drift`) map to a stable fake ID.
function channelId(channel: unknown): string | undefined {
  if (typeof channel !== 'string' || channel === '') return undefined;
  if (/^[CGD][A-Z0-9]{6,}$/.test(channel)) return channel;
  const name = channel.replace(/^#/, '').toLowerCase();
  return `C${createHash('sha256').update(name).digest('hex').slice(0, 10).toUpperCase()}`;
}

function messageContent(args: Record<string, unknown>): { text: string; blocks: unknown[] } | { error: string } {
  const text = typeof args.text === 'string' ? args.text : '';
  if (text.length > MAX_TEXT) return { error: 'msg_too_long' };
  if (args.blocks === undefined) return { text, blocks: [] };
  if (!Array.isArray(args.blocks)) return { error: 'invalid_blocks_format' };
  const blocks: unknown[] = args.blocks;
  if (blocks.length > MAX_BLOCKS || !blocks.every(validBlock)) return { error: 'invalid_blocks' };
  return { text, blocks };
}

function validBlock(block: unknown): boolean {
  if (typeof block !== 'object' || block === null) return false;
  const b = block as Record<string, unknown>;
  const textOf = (t: unknown): string | undefined =>
    typeof t === 'object' && t !== null && typeof (t as Record<string, unknown>).text === 'string'
      ? ((t as Record<string, unknown>).text as string)
      : undefined;
  switch (b.type) {
    case 'header': {
      const t = textOf(b.text);
      return t !== undefined && t.length >= 1 && t.length <= MAX_HEADER_TEXT;
    }
    case 'section': {
      const t = b.text === undefined ? undefined : textOf(b.text);
      if (b.text !== undefined && (t === undefined || t.length < 1 || t.length > MAX_SECTION_TEXT)) return false;
      if (b.fields !== undefined) {
        if (!Array.isArray(b.fields) || b.fields.length > 10) return false;
        if (!b.fields.every((f) => (textOf(f)?.length ?? 0) >= 1 && (textOf(f)?.length ?? 0) <= MAX_SECTION_FIELD)) return false;
      }
      return b.text !== undefined || b.fields !== undefined;
    }
    case 'context':
      return Array.isArray(b.elements) && b.elements.length >= 1 && b.elements.length <= 10;
    case 'divider':
      return true;
    default:
      // Other block types exist; the fake does not check them.
      return typeof b.type === 'string';
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}
