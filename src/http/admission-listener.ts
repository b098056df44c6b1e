import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { AdmissionOutcome, Metrics } from '../metrics.ts';
import { firstLineOf } from '../model/error-message.ts';
import type { AdmissionRecorder } from '../sources/admission/recorder.ts';
import { admissionReviewSchema, allowResponse, uidFromText, uidOf } from '../sources/admission/review.ts';

/**
 * The recorder webhook's own HTTPS listener (issue #17): the API server calls admission webhooks
 * over HTTPS only, with the CA of the webhook configuration's caBundle. One route, `POST
 * /admission`. Its answer never depends on Redis or on anything after the parse: it is an allow
 * (`response.allowed: true`, no patch) for every request whose uid can be read, within
 * MESHDRIFT_ADMISSION_DEADLINE whatever happens, and the recording is offered to the recorder
 * after the answer is written. A body that never gives a uid gets 400 (the API server then applies
 * the webhook's failurePolicy, Ignore). The certificate and key are re-read every
 * MESHDRIFT_ADMISSION_TLS_RELOAD_INTERVAL and swapped in when they changed (cert-manager renews
 * them in place); a pair that does not load is logged and the one in use is kept.
 */
export interface AdmissionListenerOptions {
  host: string;
  port: number;
  certFile: string;
  keyFile: string;
  reloadIntervalMs: number;
  deadlineMs: number;
  maxBodyBytes: number;
  recorder: Pick<AdmissionRecorder, 'offer'>;
  metrics: Metrics;
  log: Logger;
}

export interface AdmissionListener {
  /** Loads the certificate (throws, naming the file, when it cannot) and listens. */
  listen(): Promise<void>;
  /** Re-reads the certificate files now; true if a new pair is in use. */
  reloadTls(): Promise<boolean>;
  close(): Promise<void>;
  address(): { host: string; port: number; url: string };
}

/** How much of an oversized body is kept to read its uid from. */
const UID_SCAN_BYTES = 64 * 1024;

const JSON_HEADERS = { 'content-type': 'application/json' };

interface Pair {
  cert: Buffer;
  key: Buffer;
}

async function readPair(certFile: string, keyFile: string): Promise<Pair> {
  const read = (file: string, what: string) =>
    readFile(file).catch((err: unknown) => {
      throw new Error(`cannot read the admission TLS ${what} (${file}): ${firstLineOf(err, 200)}`);
    });
  const [cert, key] = await Promise.all([read(certFile, 'certificate, MESHDRIFT_ADMISSION_TLS_CERT'), read(keyFile, 'key, MESHDRIFT_ADMISSION_TLS_KEY')]);
  // Throws on a bad PEM or a key that does not match the certificate (mid-rotation).
  createSecureContext({ cert, key });
  return { cert, key };
}

function expiryOf(cert: Buffer): number | undefined {
  try {
    return Math.floor(Date.parse(new X509Certificate(cert).validTo) / 1000);
  } catch {
    return undefined;
  }
}

interface Answer {
  status: number;
  body: string;
  outcome: AdmissionOutcome;
}

/** The answer to a complete body (`complete` false: cut at the size limit or the deadline). */
function answerOf(raw: Buffer, complete: AdmissionOutcome | null, recorder: Pick<AdmissionRecorder, 'offer'>, bytes: number): Answer {
  const invalid = (outcome: AdmissionOutcome, why: string): Answer => ({
    status: outcome === 'too_large' ? 413 : 400,
    body: JSON.stringify({ error: why }),
    outcome: outcome === 'too_large' || outcome === 'timeout' ? outcome : 'invalid',
  });
  if (complete !== null) {
    const uid = uidFromText(raw.subarray(0, UID_SCAN_BYTES).toString('utf8'));
    return uid === undefined
      ? invalid(complete, complete === 'too_large' ? 'body too large' : 'body not received in time')
      : { status: 200, body: allowResponse(uid), outcome: complete };
  }
  const text = raw.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    const uid = uidFromText(text);
    return uid === undefined ? invalid('invalid', 'not JSON') : { status: 200, body: allowResponse(uid), outcome: 'malformed' };
  }
  const uid = uidOf(parsed);
  if (uid === undefined) return invalid('invalid', 'not an AdmissionReview with request.uid');
  const review = admissionReviewSchema.safeParse(parsed);
  if (!review.success) return { status: 200, body: allowResponse(uid), outcome: 'malformed' };
  return { status: 200, body: allowResponse(uid), outcome: recorder.offer(review.data.request, bytes) };
}

export function createAdmissionListener(opts: AdmissionListenerOptions): AdmissionListener {
  const { metrics, log } = opts;
  let server: Server | undefined;
  let current: Pair | undefined;
  let timer: NodeJS.Timeout | undefined;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = process.hrtime.bigint();
    let answered = false;
    const chunks: Buffer[] = [];
    let size = 0;
    const send = (a: Answer) => {
      if (answered) return;
      answered = true;
      clearTimeout(deadline);
      res.writeHead(a.status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(a.body) });
      res.end(a.body);
      metrics.admissionRequest(a.outcome, Number(process.hrtime.bigint() - started) / 1e9);
    };
    const deadline = setTimeout(() => send(answerOf(Buffer.concat(chunks), 'timeout', opts.recorder, size)), opts.deadlineMs);
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || path !== '/admission') {
      send({ status: 404, body: JSON.stringify({ error: 'POST /admission only' }), outcome: 'invalid' });
      req.resume();
      return;
    }
    req.on('data', (chunk: Buffer) => {
      if (answered) return;
      size += chunk.length;
      if (size <= opts.maxBodyBytes) {
        chunks.push(chunk);
        return;
      }
      // Past the limit: answer from the start of the body (where the uid is), then close the connection.
      res.setHeader('connection', 'close');
      send(answerOf(Buffer.concat(chunks), 'too_large', opts.recorder, size));
      res.once('finish', () => req.destroy());
    });
    req.on('end', () => send(answerOf(Buffer.concat(chunks), null, opts.recorder, size)));
    req.on('error', () => send(answerOf(Buffer.concat(chunks), 'timeout', opts.recorder, size)));
  }

  async function load(): Promise<boolean> {
    const pair = await readPair(opts.certFile, opts.keyFile);
    if (current && pair.cert.equals(current.cert) && pair.key.equals(current.key)) return false;
    server?.setSecureContext(pair);
    current = pair;
    const expiry = expiryOf(pair.cert);
    if (expiry !== undefined) metrics.setAdmissionCertExpiry(expiry);
    return true;
  }

  return {
    async listen() {
      await load();
      const pair = current as Pair;
      const https = createServer({ cert: pair.cert, key: pair.key, headersTimeout: 5_000, requestTimeout: 10_000 }, handle);
      server = https;
      await new Promise<void>((resolve, reject) => {
        https.once('error', reject);
        https.listen(opts.port, opts.host, () => resolve());
      });
      timer = setInterval(() => {
        load()
          .then((changed) => changed && log.info({ cert: opts.certFile }, 'admission TLS certificate reloaded'))
          .catch((err: unknown) => log.warn({ error: firstLineOf(err, 300) }, 'admission TLS certificate not reloaded: keeping the one in use'));
      }, opts.reloadIntervalMs);
      timer.unref();
    },
    reloadTls: () => load(),
    close() {
      clearInterval(timer);
      const https = server;
      return new Promise<void>((resolve) => {
        if (https?.listening) https.close(() => resolve());
        else resolve();
        https?.closeAllConnections();
      });
    },
    address() {
      const addr = server?.address() as AddressInfo | null | undefined;
      if (!addr) throw new Error('the admission listener is not listening');
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      const shown = host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host;
      return { host: addr.address, port: addr.port, url: `https://${shown}:${addr.port}` };
    },
  };
}
