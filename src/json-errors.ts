// The JSON wire format of errors, for the admin API and the downloads: `{ code, error }` with
// the status and headers errorAnswer() takes from the table. (The OpAMP route answers errors as
// a ServerToAgent instead: src/opamp/route.ts.)
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errorAnswer } from './errors';

/** An error handler answering in JSON; `schemes` is what a 401 names in WWW-Authenticate. */
export function jsonErrorHandler(schemes: string) {
  // Sends and returns nothing: a route's errorHandler is typed to return void, and the reply
  // (a thenable) returned there reads as a dropped promise.
  return (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void => {
    const { failure, status, headers } = errorAnswer(error, { requestId: request.id, schemes, log: request.log });
    void reply.code(status).headers(headers).send({ code: failure.code, error: failure.message });
  };
}
