// HTTPS on the server's own port: the certificate and key (PEM, chain in the certificate file),
// an optional client CA for mutual TLS, and renewal without a restart. The files are polled:
// when an ACME client or cert-manager replaces them (by rename or in place), new connections get
// the new material within seconds; a half-written or mismatched pair is logged and the old kept.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import type { TLSSocket, SecureVersion } from 'node:tls';
import type https from 'node:https';
import type { Logger } from 'pino';
import type { ServeConfig } from './config';
import { ConfigError } from './errors';

export type TlsConfig = Pick<ServeConfig, 'tlsCert' | 'tlsKey' | 'tlsClientCa' | 'tlsClientAuth' | 'tlsMinVersion'>;

/** How often the files are looked at for a renewal. */
const WATCH_INTERVAL_MS = 1000;

interface Material {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  subject: string;
  validTo: string;
}

/** Reads and checks the files: each parses, and the key belongs to the (first) certificate. */
function readMaterial(config: TlsConfig): Material {
  const read = (file: string, what: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new Error(`cannot read the ${what} ${file}: ${(error as Error).message}`, { cause: error });
    }
  };
  const cert = read(config.tlsCert!, 'certificate (--tls-cert)');
  const key = read(config.tlsKey!, 'key (--tls-key)');
  const ca = config.tlsClientCa === undefined ? undefined : read(config.tlsClientCa, 'client CA (--tls-client-ca)');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`${config.tlsCert} is not a PEM certificate: ${(error as Error).message}`, { cause: error });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(`${config.tlsKey} is not a PEM private key: ${(error as Error).message}`, { cause: error });
  }
  if (!certificate.checkPrivateKey(privateKey)) throw new Error(`the key ${config.tlsKey} does not belong to the certificate ${config.tlsCert}`);
  if (ca !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (error) {
      throw new Error(`${config.tlsClientCa} is not a PEM certificate: ${(error as Error).message}`, { cause: error });
    }
  }
  return { cert, key, ca, subject: certificate.subject.replace(/\n/g, ', '), validTo: certificate.validTo };
}

function contextOptions(material: Material, config: TlsConfig): https.ServerOptions {
  return {
    cert: material.cert,
    key: material.key,
    minVersion: config.tlsMinVersion as SecureVersion,
    ...(material.ca === undefined
      ? {}
      : {
          ca: material.ca,
          requestCert: true,
          // Optional: a client without a certificate is let in (agent keys still apply); one
          // with a certificate that does not verify is refused in `guardClientCertificates`.
          rejectUnauthorized: config.tlsClientAuth === 'required',
        }),
  };
}

/** The https options for Fastify, or undefined without --tls-cert; a bad file stops the start. */
export function httpsOptions(config: TlsConfig): https.ServerOptions | undefined {
  if (config.tlsCert === undefined && config.tlsKey === undefined) {
    if (config.tlsClientCa !== undefined) throw new ConfigError('invalid --tls-client-ca: it needs --tls-cert and --tls-key');
    return undefined;
  }
  if (config.tlsCert === undefined || config.tlsKey === undefined) {
    throw new ConfigError(`invalid --${config.tlsCert === undefined ? 'tls-key' : 'tls-cert'}: --tls-cert and --tls-key go together`);
  }
  try {
    return contextOptions(readMaterial(config), config);
  } catch (error) {
    throw new ConfigError(`invalid TLS material: ${(error as Error).message}`);
  }
}

/** Subjects already read, per connection: a certificate cannot change on an open connection. */
const subjects = new WeakMap<object, string | undefined>();

/**
 * The verified client certificate's subject on this socket (`O=acme, CN=agent-7`), if the client
 * presented one; undefined on plain HTTP. Read once per connection, not once per poll.
 */
export function clientCertificateSubject(socket: object): string | undefined {
  const tlsSocket = socket as Partial<TLSSocket>;
  if (typeof tlsSocket.getPeerCertificate !== 'function' || tlsSocket.authorized !== true) return undefined;
  if (subjects.has(socket)) return subjects.get(socket);
  const subject = tlsSocket.getPeerCertificate().subject as Record<string, string | string[]> | undefined;
  const text = subject === undefined
    ? undefined
    : Object.entries(subject).map(([field, value]) => `${field}=${[value].flat().join('+')}`).join(', ');
  subjects.set(socket, text);
  return text;
}

/**
 * Watches the files and swaps the server's context when they change; a refusal of the new files
 * is logged and the old context stays. With optional client auth, a connection whose certificate
 * does not verify is closed: only the absence of a certificate is optional.
 */
export function manageTls(server: https.Server, config: TlsConfig, logger: Logger): () => void {
  const first = readMaterial(config);
  logger.info({ subject: first.subject, validTo: first.validTo, clientAuth: config.tlsClientCa ? config.tlsClientAuth : 'off' }, 'TLS on');
  if (config.tlsClientCa !== undefined && config.tlsClientAuth === 'optional') {
    server.on('secureConnection', (socket: TLSSocket) => {
      const presented = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
      if (presented && !socket.authorized) {
        logger.info({ reason: String(socket.authorizationError) }, 'client certificate refused');
        socket.destroy();
      }
    });
  }
  const files = [config.tlsCert!, config.tlsKey!, ...(config.tlsClientCa === undefined ? [] : [config.tlsClientCa])];
  let pending: NodeJS.Timeout | undefined;
  const reload = (): void => {
    pending = undefined;
    try {
      const material = readMaterial(config);
      server.setSecureContext(contextOptions(material, config));
      logger.info({ subject: material.subject, validTo: material.validTo }, 'TLS certificate reloaded');
    } catch (error) {
      logger.error({ err: error }, `TLS files changed but cannot be used (${(error as Error).message}); the previous certificate stays in use`);
    }
  };
  const changed = (current: fs.Stats, previous: fs.Stats): void => {
    if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino && current.size === previous.size) return;
    // A renewal writes the key and the certificate one after the other: wait for both.
    if (pending !== undefined) clearTimeout(pending);
    pending = setTimeout(reload, 500);
    pending.unref();
  };
  for (const file of files) fs.watchFile(file, { interval: WATCH_INTERVAL_MS, persistent: false }, changed);
  return () => {
    if (pending !== undefined) clearTimeout(pending);
    for (const file of files) fs.unwatchFile(file, changed);
  };
}
