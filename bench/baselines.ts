// The two baselines of the poll path and the one of downloads: the least a server could do with
// the same bytes (decode with the same static protobuf code, encode an answer of the same size,
// gzip when asked, as ours does), on bare node:http and on a bare Fastify route, logger off.
import fs from 'node:fs';
import http from 'node:http';
import zlib from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { KEEP_ALIVE_TIMEOUT_MS } from '../src/app';
import { AnswerBatch } from '../src/opamp/answer-batch';
import { gzipAnswer } from '../src/opamp/body';
import { decodeAgentToServer, encodeServerToAgent, SERVER_CAPABILITIES, ServerToAgentFlag } from '../src/opamp/codec';

const PROTOBUF = 'application/x-protobuf';
const MAX_BYTES = 4 * 1024 * 1024;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Decode, answer as ours does for a known agent (uid, capabilities, full state on a first poll). */
export function answerPoll(body: Buffer, contentEncoding: string | undefined, acceptEncoding: string | undefined): Answer {
  try {
    const bytes = contentEncoding === 'gzip' ? zlib.gunzipSync(body, { maxOutputLength: MAX_BYTES }) : body;
    const message = decodeAgentToServer(bytes);
    const encoded = encodeServerToAgent({
      instanceUid: message.instanceUid,
      capabilities: SERVER_CAPABILITIES,
      // Ours asks a new agent for its full state; asking on the first sequence number keeps
      // the answers the same size.
      flags: Number(message.sequenceNum) <= 1 ? ServerToAgentFlag.ReportFullState : 0,
    });
    const plain = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
    if (acceptEncoding?.includes('gzip')) {
      return { status: 200, headers: { 'content-type': PROTOBUF, 'content-encoding': 'gzip', vary: 'Accept-Encoding' }, body: gzipAnswer(plain) };
    }
    return { status: 200, headers: { 'content-type': PROTOBUF }, body: plain };
  } catch {
    return { status: 400, headers: { 'content-type': PROTOBUF }, body: Buffer.alloc(0) };
  }
}

export function bareHttpServer(): http.Server {
  const server = http.createServer({ keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const header = request.headers['content-encoding'];
      const answer = answerPoll(Buffer.concat(chunks), header, request.headers['accept-encoding']);
      response.writeHead(answer.status, { ...answer.headers, 'content-length': answer.body.byteLength });
      response.end(answer.body);
    });
  });
  return server;
}

/**
 * The bare Fastify route; `coalesce` writes its answers as ours does by default (answer-batch.ts),
 * all those of one event-loop turn at its end, so that ours can be weighed like for like.
 */
export function bareFastify(coalesce = false): FastifyInstance {
  const app = Fastify({ logger: false, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS });
  app.addContentTypeParser(PROTOBUF, { parseAs: 'buffer', bodyLimit: MAX_BYTES }, (_request, body, done) => done(null, body));
  const batch = coalesce ? new AnswerBatch(() => undefined) : undefined;
  app.post('/v1/opamp', (request, reply) => {
    const header = request.headers['content-encoding'];
    const answer = answerPoll(request.body as Buffer, header, request.headers['accept-encoding']);
    reply.code(answer.status).headers(answer.headers);
    if (batch) batch.send(reply, answer.body);
    else reply.send(answer.body);
  });
  return app;
}

/** Node's own file serving: fs.createReadStream piped to the response, with one byte range. */
export function bareDownloadServer(file: string): http.Server {
  const size = fs.statSync(file).size;
  return http.createServer({ keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (request, response) => {
    const match = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
    const start = match ? Number(match[1]) : 0;
    const end = match && match[2] !== '' ? Math.min(Number(match[2]), size - 1) : size - 1;
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/gzip',
      'content-length': end - start + 1,
      'accept-ranges': 'bytes',
    };
    if (match) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    response.writeHead(match ? 206 : 200, headers);
    fs.createReadStream(file, { start, end }).pipe(response);
  });
}
