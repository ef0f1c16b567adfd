// Download tokens: an HMAC over the agent's uid, the file's SHA-256 and an expiry time. The
// secret lives in the store, so a token minted by one server instance is accepted by all.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { uidToString } from '../opamp/codec';

export const DOWNLOAD_TOKEN_SECRET = 'download-token-hmac';

export type TokenCheck = { valid: true; instanceUid: string } | { valid: false; reason: string };

export interface DownloadTokenOptions {
  secret: Buffer;
  lifetimeMs: number;
  now: () => number;
}

export class DownloadTokens {
  private readonly options: DownloadTokenOptions;

  constructor(options: DownloadTokenOptions) {
    this.options = options;
  }

  private mac(uidHex: string, sha256Hex: string, expiresAtSeconds: number): Buffer {
    // A fixed label keeps this MAC from ever being confused with another use of the secret.
    return createHmac('sha256', this.options.secret)
      .update(`opamp-download-token\n${uidHex}\n${sha256Hex}\n${expiresAtSeconds}`)
      .digest();
  }

  /** `<uid hex>.<expiry, unix seconds>.<base64url MAC>` for one agent and one file. */
  issue(instanceUid: string, sha256Hex: string): string {
    const uidHex = instanceUid.replace(/-/g, '');
    const expiresAtSeconds = Math.floor((this.options.now() + this.options.lifetimeMs) / 1000);
    return `${uidHex}.${expiresAtSeconds}.${this.mac(uidHex, sha256Hex, expiresAtSeconds).toString('base64url')}`;
  }

  check(token: string | undefined, sha256Hex: string): TokenCheck {
    if (token === undefined) return { valid: false, reason: 'a download token is required' };
    const match = /^([0-9a-f]{32})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (!match) return { valid: false, reason: 'the download token is malformed' };
    const [, uidHex, expiry, mac] = match as unknown as [string, string, string, string];
    const expected = this.mac(uidHex, sha256Hex, Number(expiry));
    // Checked before the expiry so that the answer says nothing about forged tokens' times.
    if (!timingSafeEqual(expected, Buffer.from(mac, 'base64url'))) {
      return { valid: false, reason: 'the download token is not valid for this file' };
    }
    if (Number(expiry) * 1000 <= this.options.now()) return { valid: false, reason: 'the download token has expired' };
    return { valid: true, instanceUid: uidToString(Buffer.from(uidHex, 'hex')) };
  }
}
