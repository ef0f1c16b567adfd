// The web console: the files `npm run build` bundles into dist/ui, served under /ui/ with strict
// security headers. The page itself only calls the admin API, with the caller's own key, so the
// console can never do more than curl can.
import fs from 'node:fs';
import path from 'node:path';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

export const CONSOLE_PREFIX = '/ui/';

/** dist/ui under the package root, whether this module runs from dist/ or from its TypeScript source. */
export function consoleDirectory(): string {
  let directory = __dirname;
  while (!fs.existsSync(path.join(directory, 'package.json'))) {
    const parent = path.dirname(directory);
    if (parent === directory) break;
    directory = parent;
  }
  return path.join(directory, 'dist', 'ui');
}

/**
 * Only this origin's own files: no inline script or style, nothing from another origin, never
 * in a frame. Chart.js and Preact set styles through the DOM, which style-src does not govern.
 */
const CONTENT_SECURITY_POLICY = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'"],
    connectSrc: ["'self'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
    frameAncestors: ["'none'"],
  },
};

export interface ConsoleOptions {
  /** Where the built files are (tests may point elsewhere). */
  root?: string;
}

/** The console under /ui/, registered in a scope of its own so its headers stay off the API and OpAMP. */
export async function consolePlugin(app: FastifyInstance, options: ConsoleOptions): Promise<void> {
  const root = options.root ?? consoleDirectory();
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: CONTENT_SECURITY_POLICY,
    // TLS is the proxy's (or --tls's) business; a header pinning HTTPS would outlive this server.
    strictTransportSecurity: false,
  });
  // A relative Location keeps the reverse proxy's prefix: /prefix/ui goes to /prefix/ui/.
  app.get('/ui', { exposeHeadRoute: false }, async (_request, reply) => reply.redirect('ui/', 301));
  if (!fs.existsSync(path.join(root, 'index.html'))) {
    app.log.warn({ root }, 'the web console is not built (npm run build): /ui/ answers 503');
    app.get(`${CONSOLE_PREFIX}*`, { exposeHeadRoute: false }, async (_request, reply) =>
      reply.code(503).type('text/plain').send('The web console is not built: run npm run build.\n'));
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: CONSOLE_PREFIX,
    // The bundle's name never changes between builds, so the browser asks again each time.
    cacheControl: true,
    maxAge: 0,
    // One wildcard route rather than one per file read at start-up.
    wildcard: true,
  });
}
