// A small reverse proxy for the multi-instance and crash tests: agents talk to one address while
// the test decides which server instance answers each request, and sees who answered what.
import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  /** Index of the backend that answered. */
  backend: number;
  status: number;
  /** OpAMP-Instance-UID of a poll, or the uid a download token names. */
  instanceUid: string | undefined;
}

export interface Proxy {
  url: string;
  backends: string[];
  log: ProxiedRequest[];
  /** Picks the backend of one request; the default alternates polls per agent, downloads globally. */
  choose: (request: IncomingMessage, instanceUid: string | undefined) => number;
  close(): Promise<void>;
}

/** The uid as the canonical text, from a poll's header or a download token's first field. */
function instanceUidOf(request: IncomingMessage): string | undefined {
  const header = request.headers['opamp-instance-uid'];
  if (typeof header === 'string') return header.toLowerCase();
  const token = /^Bearer ([0-9a-f]{32})\./.exec(request.headers.authorization ?? '')?.[1];
  return token?.replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
}

export async function startProxy(backends: string[]): Promise<Proxy> {
  const turns = new Map<string, number>();
  let downloads = 0;
  const proxy: Proxy = {
    url: '',
    backends,
    log: [],
    choose: (request, instanceUid) => {
      if (request.method === 'POST' && instanceUid !== undefined) {
        const turn = turns.get(instanceUid) ?? 0;
        turns.set(instanceUid, turn + 1);
        return turn % proxy.backends.length;
      }
      downloads += 1;
      return downloads % proxy.backends.length;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    const instanceUid = instanceUidOf(incoming);
    const backend = proxy.choose(incoming, instanceUid);
    const target = new URL(incoming.url ?? '/', proxy.backends[backend]);
    const forward = httpRequest(target, { method: incoming.method, headers: incoming.headers }, (answer) => {
      proxy.log.push({ method: incoming.method ?? '', path: incoming.url ?? '', backend, status: answer.statusCode ?? 0, instanceUid });
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
    });
    forward.on('error', () => {
      // A backend that is down answers 503, as a proxy in front of a dead instance would.
      proxy.log.push({ method: incoming.method ?? '', path: incoming.url ?? '', backend, status: 503, instanceUid });
      if (!outgoing.headersSent) outgoing.writeHead(503, { 'retry-after': '1' });
      outgoing.end();
    });
    incoming.pipe(forward);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
