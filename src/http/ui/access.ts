import { randomBytes, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { verifyBearerToken } from '../verify-signature.ts';

/**
 * Who is looking at the web page, and what they may do (issue #21). Read-only by default; a write
 * (a silence, an acknowledge, an expire) needs the writer role.
 *
 * - Behind an authenticating proxy (oauth2-proxy, Pomerium, an ingress with auth): its user and
 *   groups headers are believed only on connections from MESHDRIFT_UI_TRUSTED_PROXIES; from any
 *   other address they are ignored, so nobody who reaches the port directly can claim a name.
 * - A script: the API token (MESHDRIFT_API_TOKEN) as a bearer token; it may write, as on /api/v1.
 * - Nobody named: may read only when the API itself is open (no MESHDRIFT_API_TOKEN, run so on
 *   purpose with MESHDRIFT_ALLOW_UNAUTHENTICATED=api); never write.
 */
export interface UiAccessConfig {
  apiToken: string | undefined;
  /** Addresses and CIDRs of the authenticating proxy. Empty: no proxy header is believed. */
  trustedProxies: readonly string[];
  /** Lower-case header names. */
  userHeader: string;
  groupsHeader: string;
  /** `user:<name>` and `group:<name>` entries: the writer role. */
  writers: readonly string[];
  /** MESHDRIFT_PUBLIC_URL: its origin is accepted on writes too. */
  publicUrl?: string;
}

export interface Viewer {
  /** The proxy's user, `api-token`, or `anonymous`. */
  user: string;
  groups: string[];
  via: 'proxy' | 'token' | 'anonymous';
  canWrite: boolean;
}

/** Most groups believed from one header, and the longest name kept. */
const MAX_GROUPS = 100;
const MAX_NAME = 256;

function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const e of entries) {
    const [addr = '', bits] = e.split('/');
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

/** The peer address as the socket has it, IPv4-mapped IPv6 (`::ffff:127.0.0.1`) as IPv4. */
function peerOf(req: Request): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

function headerOf(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export interface UiAccess {
  /** The viewer of a request, or undefined: nobody the page may show anything to. */
  viewer(req: Request): Viewer | undefined;
  /** Whether the page was asked over https (the socket, or the trusted proxy's X-Forwarded-Proto). */
  secure(req: Request): boolean;
  /** Origins a write may come from. */
  origins(req: Request): string[];
}

export function createUiAccess(cfg: UiAccessConfig): UiAccess {
  const proxies = blockListOf(cfg.trustedProxies);
  const fromProxy = (req: Request): boolean => {
    if (cfg.trustedProxies.length === 0) return false;
    const peer = peerOf(req);
    const family = isIP(peer);
    return family !== 0 && proxies.check(peer, family === 6 ? 'ipv6' : 'ipv4');
  };
  const writerUsers = new Set(cfg.writers.filter((w) => w.startsWith('user:')).map((w) => w.slice(5)));
  const writerGroups = new Set(cfg.writers.filter((w) => w.startsWith('group:')).map((w) => w.slice(6)));
  const secure = (req: Request): boolean =>
    (req.socket as { encrypted?: boolean }).encrypted === true || (fromProxy(req) && headerOf(req, 'x-forwarded-proto')?.split(',')[0]?.trim() === 'https');
  return {
    viewer(req) {
      const auth = headerOf(req, 'authorization');
      if (auth !== undefined && cfg.apiToken !== undefined && verifyBearerToken(auth, cfg.apiToken).ok) {
        return { user: 'api-token', groups: [], via: 'token', canWrite: true };
      }
      // Another Authorization (a proxy may pass the user's own token on) is not meshdrift's to judge:
      // the proxy's user header decides; without one, a wrong token is nobody.
      const user = fromProxy(req) ? headerOf(req, cfg.userHeader)?.trim() : undefined;
      if (user !== undefined && user !== '') {
        const groups = (headerOf(req, cfg.groupsHeader) ?? '')
          .split(',')
          .map((g) => g.trim().slice(0, MAX_NAME))
          .filter((g) => g !== '')
          .slice(0, MAX_GROUPS);
        const name = user.slice(0, MAX_NAME);
        return { user: name, groups, via: 'proxy', canWrite: writerUsers.has(name) || groups.some((g) => writerGroups.has(g)) };
      }
      if (auth !== undefined && cfg.apiToken !== undefined) return undefined;
      // Nobody named: the page reads as the API does when it is open, and never writes.
      return cfg.apiToken === undefined ? { user: 'anonymous', groups: [], via: 'anonymous', canWrite: false } : undefined;
    },
    secure,
    origins(req) {
      const host = headerOf(req, 'host');
      const own = host === undefined ? [] : [`${secure(req) ? 'https' : 'http'}://${host}`];
      const pub = cfg.publicUrl === undefined ? [] : [new URL(cfg.publicUrl).origin];
      return [...own, ...pub];
    },
  };
}

/**
 * The page's headers on every answer: a strict Content-Security-Policy (only this site's own
 * stylesheet and script, no inline code or style, no framing, forms post only here), no sniffing,
 * no referrer to other sites, no caching of what is drifted.
 */
export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    'Content-Security-Policy':
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'same-origin',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  });
  next();
};

/** The CSRF cookie's name: `__Host-` (https only, this host only, path /) when the page is on https. */
export const csrfCookieName = (secure: boolean): string => (secure ? '__Host-meshdrift-csrf' : 'meshdrift-csrf');

function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (headerOf(req, 'cookie') ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

const TOKEN = /^[A-Za-z0-9_-]{32}$/;

/**
 * The request's CSRF token (double submit): the cookie's value, or a new one set as a cookie
 * (HttpOnly, SameSite=Strict, Secure on https). Forms carry it in the `_csrf` field.
 */
export function csrfToken(access: UiAccess, req: Request, res: Response): string {
  const secure = access.secure(req);
  const name = csrfCookieName(secure);
  const have = cookieOf(req, name);
  if (have !== undefined && TOKEN.test(have)) return have;
  const token = randomBytes(24).toString('base64url');
  res.append('Set-Cookie', `${name}=${token}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`);
  return token;
}

/** Why a write is refused (CSRF), or undefined: same origin, and the form's token equals the cookie's. */
export function csrfProblem(access: UiAccess, req: Request, formToken: unknown): string | undefined {
  const origin = headerOf(req, 'origin');
  if (origin === undefined || !access.origins(req).includes(origin)) return 'the request did not come from this page (Origin)';
  if (headerOf(req, 'sec-fetch-site') === 'cross-site') return 'the request came from another site';
  const cookie = cookieOf(req, csrfCookieName(access.secure(req)));
  if (cookie === undefined || typeof formToken !== 'string' || !TOKEN.test(cookie) || formToken.length !== cookie.length)
    return 'missing or stale form token: reload the page';
  return timingSafeEqual(Buffer.from(cookie), Buffer.from(formToken)) ? undefined : 'missing or stale form token: reload the page';
}

/** res.locals.viewer, set by the router's first handler. */
export function viewerOf(res: Response): Viewer {
  const v: unknown = res.locals['viewer'];
  if (typeof v !== 'object' || v === null) throw new Error('ui: no viewer on the request');
  return v as Viewer;
}

/** Answers 401 unless the request has a viewer; then keeps it on res.locals. */
export function requireViewer(access: UiAccess, refuse: (res: Response) => void): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const viewer = access.viewer(req);
    if (viewer === undefined) {
      refuse(res);
      return;
    }
    res.locals['viewer'] = viewer;
    next();
  };
}
