// Reading Fulcio signing certificates: parsing the cosign sidecar forms and pulling out the signer
// identity the policy and the package listings talk about. Parsing only; every cryptographic
// check stays in @sigstore/verify.

import { X509Certificate, pem } from '@sigstore/core';

/** The identity a Fulcio certificate asserts. Fields are absent when the certificate lacks them. */
export interface CertificateIdentity {
  /** Subject alternative name: the workflow URI for GitHub Actions, an e-mail for people. */
  identity?: string;
  /** OIDC issuer that vouched for the identity. */
  issuer?: string;
  /** GitHub workflow repository, `owner/name`. */
  repository?: string;
}

// Fulcio extension OIDs. The issuer moved from a raw-bytes extension (.1.1) to a DER UTF8String
// (.1.8); certificates may carry either or both. The workflow repository (.1.5) is what the
// supervisor (through cosign) compares against its configured repository.
const OID_ISSUER_LEGACY = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER = '1.3.6.1.4.1.57264.1.8';
const OID_WORKFLOW_REPOSITORY = '1.3.6.1.4.1.57264.1.5';

const UTF8_STRING_TAG = 0x0c;

export function certificateIdentity(certificate: X509Certificate): CertificateIdentity {
  return {
    identity: certificate.subjectAltName,
    issuer: extensionText(certificate, OID_ISSUER) ?? extensionText(certificate, OID_ISSUER_LEGACY),
    repository: extensionText(certificate, OID_WORKFLOW_REPOSITORY),
  };
}

/**
 * Identity of a certificate given as DER bytes, PEM text, or the base64-of-PEM text cosign writes
 * to `.pem` files. For listings; returns undefined for anything that does not parse.
 */
export function identityFromCertificate(certificate: Buffer | string): CertificateIdentity | undefined {
  try {
    // Copied so the parser gets a Buffer over a plain ArrayBuffer, the only kind its types accept.
    const parsed =
      typeof certificate === 'string' ? parseCertificateText(certificate) : X509Certificate.parse(Buffer.from(certificate));
    return certificateIdentity(parsed);
  } catch {
    return undefined;
  }
}

/** Parses PEM text, or base64 of PEM text (cosign's `--output-certificate` form). */
export function parseCertificateText(text: string): X509Certificate {
  const trimmed = text.trim();
  const pemText = trimmed.startsWith('-----BEGIN') ? trimmed : Buffer.from(trimmed, 'base64').toString('utf8');
  if (!pemText.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error('not a PEM certificate (nor base64 of one)');
  }
  return X509Certificate.parse(pemText);
}

/** The certificate as cosign writes it to `--output-certificate`: base64 of the PEM text. */
export function cosignCertificateText(certificate: X509Certificate): string {
  return Buffer.from(pem.fromDER(certificate.root.toDER()), 'utf8').toString('base64');
}

// Extension values are either a DER UTF8String or, in the legacy Fulcio extensions, the raw
// string bytes. A raw printable string never starts with the UTF8String tag byte, so the tag and
// a length that accounts for every byte tell the two apart.
function extensionText(certificate: X509Certificate, oid: string): string | undefined {
  const extension = certificate.extension(oid);
  if (extension === undefined) return undefined;
  const bytes = extension.value;
  const content = utf8StringContent(bytes);
  return (content ?? bytes).toString('utf8');
}

function utf8StringContent(bytes: Buffer): Buffer | undefined {
  if (bytes.length < 2 || bytes[0] !== UTF8_STRING_TAG) return undefined;
  const first = bytes[1];
  if (first < 0x80) {
    return bytes.length === 2 + first ? bytes.subarray(2) : undefined;
  }
  const lengthBytes = first & 0x7f;
  if (lengthBytes === 0 || lengthBytes > 4 || bytes.length < 2 + lengthBytes) return undefined;
  let length = 0;
  for (let index = 0; index < lengthBytes; index += 1) length = length * 256 + bytes[2 + index];
  const start = 2 + lengthBytes;
  return bytes.length === start + length ? bytes.subarray(start) : undefined;
}
