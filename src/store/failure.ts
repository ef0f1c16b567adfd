// Which errors mean "the database is not answering right now" (a retry later may succeed) as
// opposed to a fault in the server. The admin API answers the first with 503 and Retry-After,
// as the OpAMP route does, instead of a 500 that reads like a bug.

/** SQLSTATE classes of an unreachable or overwhelmed server: connection (08), resources (53), intervention (57), system (58), rollback (40). */
const TRANSIENT_SQLSTATE_CLASSES = new Set(['08', '40', '53', '57', '58']);

/** SQLite result codes of a busy, locked, full or failing disk (extended codes keep the prefix). */
const TRANSIENT_SQLITE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL)/;

export function isStoreUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    // pg's DatabaseError carries the five-character SQLSTATE.
    if (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2))) return true;
    // A socket that could not connect or was cut (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE...).
    if (/^E[A-Z]+$/.test(code)) return true;
    if (TRANSIENT_SQLITE.test(code)) return true;
  }
  // pg reports a connection lost mid-query, and a pool wait that ran out, without a code.
  return /^Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(error.message);
}
