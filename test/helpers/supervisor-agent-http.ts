// The HTTP side of the test supervisor agent, kept close to Go's net/http client behaviour:
// gzip answers decoded transparently, redirects followed, download bodies hashed as they stream.
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createGunzip, gunzipSync } from 'node:zlib';

export interface HttpAnswer {
  status: number;
  body: Buffer;
  contentEncoding: string | undefined;
  retryAfter: string | undefined;
}

/** One OpAMP POST; a gzip answer is decoded, as Go's transport does for Accept-Encoding: gzip. */
export async function postMessage(url: string, headers: Record<string, string>, body: Buffer, timeoutMs: number): Promise<HttpAnswer> {
  const response = await send(url, 'POST', { ...headers, 'Content-Length': String(body.length) }, body, timeoutMs);
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const contentEncoding = response.headers['content-encoding'];
  return {
    status: response.statusCode ?? 0,
    body: contentEncoding === 'gzip' ? gunzipSync(raw) : raw,
    contentEncoding,
    retryAfter: response.headers['retry-after'],
  };
}

/**
 * GETs a package file the way opamp-go does: offered headers added, redirects followed (up to
 * 10), the body streamed into SHA-256 and never kept.
 */
export async function download(
  url: string,
  headers: Array<[string, string]>,
  timeoutMs: number,
): Promise<{ status: number; sha256: Buffer; size: number }> {
  let target = url;
  for (let redirects = 0; redirects <= 10; redirects += 1) {
    const requestHeaders: OutgoingHttpHeaders = { 'Accept-Encoding': 'gzip' };
    for (const [key, value] of headers) requestHeaders[key] = value;
    const response = await send(target, 'GET', requestHeaders, undefined, timeoutMs);
    const location = response.headers.location;
    if (response.statusCode !== undefined && [301, 302, 303, 307, 308].includes(response.statusCode) && location) {
      response.resume();
      const next = new URL(location, target);
      // Go drops credentials when a redirect leaves the original host.
      if (next.host !== new URL(target).host) headers = headers.filter(([key]) => !/^(authorization|cookie)$/i.test(key));
      target = next.toString();
      continue;
    }
    const hash = createHash('sha256');
    let size = 0;
    const stream = response.headers['content-encoding'] === 'gzip' ? response.pipe(createGunzip()) : response;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { status: response.statusCode ?? 0, sha256: hash.digest(), size };
  }
  throw new Error(`too many redirects from ${url}`);
}

function send(
  url: string,
  method: string,
  headers: OutgoingHttpHeaders,
  body: Buffer | undefined,
  timeoutMs: number,
): Promise<IncomingMessage> {
  const parsed = new URL(url);
  const requestFunction = parsed.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = requestFunction(parsed, { method, headers, timeout: timeoutMs }, resolve);
    request.on('timeout', () => request.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}
