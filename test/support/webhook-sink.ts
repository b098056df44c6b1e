import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A webhook receiver (meshdrift's `webhook` receiver type posts here) that keeps only what a large
 * run needs: the distinct fingerprints told firing, per group, and how many posts and bytes came.
 * Bodies are parsed one at a time and dropped, so 80,000 findings cost the sink little memory.
 */
export interface WebhookSink {
  url: string;
  /** Distinct fingerprints told firing, across every post. */
  firing(): number;
  posts(): number;
  /** The largest body received, in bytes. */
  largestBody(): number;
  close(): Promise<void>;
}

/** `onBody`: also hands each body's text to the caller (before it is dropped). */
export async function startWebhookSink(opts: { onBody?: (text: string) => void } = {}): Promise<WebhookSink> {
  const fingerprints = new Set<string>();
  let posts = 0;
  let largest = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      largest = Math.max(largest, body.length);
      posts++;
      try {
        const text = body.toString('utf8');
        opts.onBody?.(text);
        const payload = JSON.parse(text) as { alerts?: Array<{ status?: string; fingerprint?: string }> };
        for (const a of payload.alerts ?? []) if (a.status === 'firing' && typeof a.fingerprint === 'string') fingerprints.add(a.fingerprint);
        res.writeHead(200).end('ok');
      } catch {
        res.writeHead(400).end('bad json');
      }
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    firing: () => fingerprints.size,
    posts: () => posts,
    largestBody: () => largest,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
