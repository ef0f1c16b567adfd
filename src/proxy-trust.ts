// --trust-proxy: which peers may speak for a client through X-Forwarded-* headers. `true`
// believes every peer (only right when nothing but the proxy can reach the port), a list names
// the proxies by address or CIDR. Fastify takes the same setting for request.ip, .protocol and
// .host; this is the same rule (the same library) for the headers Fastify does not read.
import proxyAddr from '@fastify/proxy-addr';

export type TrustProxySetting = boolean | string[];

/** Whether a request whose socket peer is `address` comes through a trusted proxy. */
export function proxyTrust(setting: TrustProxySetting | undefined): (address: string | undefined) => boolean {
  if (setting === undefined || setting === false) return () => false;
  if (setting === true) return () => true;
  const trusted = proxyAddr.compile(setting);
  return (address) => address !== undefined && trusted(address, 0);
}

/** Checks a comma-separated list of addresses/CIDRs (or proxy-addr's names such as `loopback`); the message says what is wrong. */
export function parseTrustedProxies(text: string): string[] | string {
  const entries = text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (entries.length === 0) return 'names no address';
  for (const entry of entries) {
    try {
      proxyAddr.compile(entry);
    } catch {
      return `has ${JSON.stringify(entry)}, which is not an IP address, a CIDR range or loopback/linklocal/uniquelocal`;
    }
  }
  return entries;
}
