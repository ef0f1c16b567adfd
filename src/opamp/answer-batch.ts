// Answers that become ready while the event loop is handling one batch of readable sockets are
// written together, once that batch is done (setImmediate runs after the loop's I/O phase).
// Each answer is still one write on its own connection; what changes is their timing. Written
// back to back, the first write wakes the peer (the agent's HTTP stack, a reverse proxy on the
// same host, a virtual NIC's queue) and the others find it awake, where answers written between
// the handling of one request and the next would wake it once each. Measured on the bench's
// loopback fleet (BENCHMARKS.md), that wake-up was the largest single cost of a poll.
// No answer waits longer than the rest of the batch it arrived in: at one poll per loop turn
// the only delay is the setImmediate hop itself.
import type { FastifyReply } from 'fastify';

export class AnswerBatch {
  /** Replies and their payloads, alternating: no object per answer. */
  private pending: Array<FastifyReply | Buffer> = [];
  private readonly flushAll = (): void => this.flush();

  constructor(private readonly onError: (error: unknown) => void) {}

  /** Sends `payload` on `reply` once the current batch of I/O has been handled. */
  send(reply: FastifyReply, payload: Buffer): void {
    this.pending.push(reply, payload);
    if (this.pending.length === 2) setImmediate(this.flushAll);
  }

  /** How many answers wait to be written. */
  get size(): number {
    return this.pending.length / 2;
  }

  private flush(): void {
    const pending = this.pending;
    this.pending = [];
    for (let index = 0; index < pending.length; index += 2) {
      try {
        (pending[index] as FastifyReply).send(pending[index + 1] as Buffer);
      } catch (error) {
        // One failed write (a hook that threw, say) must not keep the others' answers back.
        this.onError(error);
      }
    }
  }
}
