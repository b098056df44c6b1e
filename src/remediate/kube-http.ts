import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { createTextHttpClient } from '../net/http.ts';

/**
 * The Kubernetes API transports of the remediation clients (Flux reconcile, Argo CD operation):
 * a raw GET or merge PATCH of one object path, answered as status and text so each client maps
 * the API server's `Status` errors itself. Both throw only transport errors, named by a code
 * (net/http.ts `transportFailure`), never with a credential in them.
 */

/** A minimal Kubernetes API transport. */
export interface KubeHttp {
  request(req: { method: 'GET' | 'PATCH'; path: string; body?: string; contentType?: string }): Promise<{ status: number; body: string }>;
}

export interface AxiosKubeHttpOptions {
  /** API server base URL, e.g. https://10.0.0.1:6443 (tests: a local server). */
  apiUrl: string;
  /** Bearer token (service account). Never in an error. */
  token: string;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
// An Application with thousands of resources is a few MB; anything far larger is not one object.
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** {@link KubeHttp} over axios with a bearer token. Throws only transport errors, named by code. */
export function createAxiosKubeHttp(opts: AxiosKubeHttpOptions): KubeHttp {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const client = createTextHttpClient(timeoutMs, {
    baseURL: opts.apiUrl.replace(/\/+$/, ''),
    maxContentLength: MAX_BODY_BYTES,
    headers: { Authorization: `Bearer ${opts.token}`, 'User-Agent': 'meshdrift', Accept: 'application/json' },
  });
  return {
    async request(req) {
      const res = await client.request<string>({
        method: req.method,
        url: req.path,
        ...(req.body === undefined ? {} : { data: req.body }),
        ...(req.contentType === undefined ? {} : { headers: { 'Content-Type': req.contentType } }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: res.status, body: typeof res.data === 'string' ? res.data : '' };
    },
  };
}

/** A transport failure carrying only a code (its message is never shown). */
function coded(code: string, cause?: unknown): Error {
  return Object.assign(new Error(code, cause === undefined ? {} : { cause }), { code });
}

/**
 * {@link KubeHttp} for a MESHDRIFT_CLUSTERS cluster's KubeConfig (config/clusters.ts
 * `kubeConfigFor`). Each request asks the library for its HTTPS options (`applyToHTTPSOptions`),
 * so in-cluster service-account tokens that rotate, client certificates, the cluster's CA or
 * insecure-skip-tls-verify, proxies and exec credential plugins all work as they do for the watches;
 * the request itself is a plain node:http(s) one, since the generated API clients have no raw
 * PATCH of an arbitrary custom resource path.
 */
export function createKubeConfigHttp(kc: KubeConfig, opts: { timeoutMs?: number } = {}): KubeHttp {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return {
    async request(req) {
      const cluster = kc.getCurrentCluster();
      if (cluster === null) throw coded('ENOCLUSTER');
      const options: https.RequestOptions = {};
      try {
        await kc.applyToHTTPSOptions(options);
      } catch (error) {
        // An exec plugin's stderr or a token file path may be in the message: keep only a code.
        throw coded('EKUBECREDENTIALS', error);
      }
      const url = new URL(`${cluster.server.replace(/\/+$/, '')}${req.path}`);
      // The library sets headers as an object (Authorization from a token or exec plugin).
      const given = options.headers;
      const headers: http.OutgoingHttpHeaders = {
        ...(given === undefined || Array.isArray(given) ? {} : (given as http.OutgoingHttpHeaders)),
        Accept: 'application/json',
        'User-Agent': 'meshdrift',
        ...(req.contentType === undefined ? {} : { 'Content-Type': req.contentType }),
      };
      const send = url.protocol === 'http:' ? http.request : https.request;
      return new Promise((resolve, reject) => {
        const outgoing = send(url, { ...options, method: req.method, headers, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) res.destroy(coded('ERESPONSETOOLARGE'));
            else chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        });
        outgoing.on('error', reject);
        outgoing.end(req.body);
      });
    },
  };
}
