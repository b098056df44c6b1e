import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The HTTP socket (app.ts owns it; http/server.ts is the express app behind it). Slow senders:
 * headers within 10 s, the whole request within 30 s (the webhooks also bound the body). While
 * draining, a new request on a kept-alive connection is not taken: 503 + Connection: close, sent
 * elsewhere. Counts the requests being answered, which a shutdown waits for.
 */
export interface Listener {
  listen(port: number, host: string): Promise<void>;
  /** Requests being answered now. */
  openRequests(): number;
  /**
   * No new connections; idle kept-alive ones close now, busy ones after their answer. Resolves
   * with `waitFor`'s answer (whether the open requests were answered in time).
   */
  quiesce(waitFor: (done: () => boolean) => Promise<boolean>): Promise<boolean>;
  /** Closes the socket and cuts every connection still open. */
  close(): Promise<void>;
  /** The listening address (after listen()). */
  address(): { host: string; port: number; url: string };
}

const REFUSAL = JSON.stringify({ error: 'shutting down: send it again (another replica takes it)' });

export function createListener(handler: RequestListener, draining: () => boolean): Listener {
  let open = 0;
  let server: Server | undefined;
  // One handler for every response (no closure per request): 'close' comes once per response.
  const closed = (): void => void open--;
  return {
    async listen(port, host) {
      const httpServer = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
        if (draining()) {
          res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(REFUSAL), connection: 'close', 'retry-after': '1' });
          res.end(REFUSAL);
          return;
        }
        open++;
        res.on('close', closed);
        handler(req, res);
      });
      server = httpServer;
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => resolve());
      });
    },
    openRequests: () => open,
    async quiesce(waitFor) {
      if (!server?.listening) return true;
      server.close();
      server.closeIdleConnections();
      return waitFor(() => open === 0);
    },
    close() {
      const httpServer = server;
      return new Promise<void>((resolve) => {
        if (httpServer?.listening) httpServer.close(() => resolve());
        else resolve();
        httpServer?.closeAllConnections();
      });
    },
    address() {
      const addr = server?.address() as AddressInfo | null | undefined;
      if (!addr) throw new Error('not listening: call start() first');
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      const shown = host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host;
      return { host: addr.address, port: addr.port, url: `http://${shown}:${addr.port}` };
    },
  };
}
