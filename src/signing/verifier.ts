// Decides whether a package tarball was signed by someone the policy trusts, fully offline, and
// hands back the signature in the forms an OpAMP offer can carry. All cryptography (certificate
// chains, SCTs, transparency log proofs, timestamps, the artifact signature) is @sigstore/verify's.
//
// Memory: the artifact signature check needs the whole artifact in memory (the library's signed
// entity takes bytes, not a stream), and tarballs reach ~200 MB. Callers verify one artifact at a
// time so that at most one tarball is held at once; the bytes are read only after the sidecars
// parse, so an unsigned or malformed package costs no read.

import { open, readFile } from 'node:fs/promises';
import { bundleFromJSON, type Bundle, type TransparencyLogEntry } from '@sigstore/bundle';
import { X509Certificate, crypto } from '@sigstore/core';
import { Verifier, toSignedEntity, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
import type { Sidecars } from '../packages/source';
import { certificateIdentity, cosignCertificateText, parseCertificateText, type CertificateIdentity } from './certificate';
import { checkIdentity, type SignaturePolicy } from './policy';

// Listings show who signed a package without verifying again; re-exported so callers need one import.
export { identityFromCertificate, type CertificateIdentity } from './certificate';

export type SignatureMethod = 'bundle' | 'cosign-pair' | 'unsigned';

export type SignatureCode =
  | 'SIGNATURE_MISMATCH'
  | 'UNTRUSTED_SIGNER'
  | 'UNTRUSTED_ISSUER'
  | 'UNTRUSTED_REPOSITORY'
  | 'UNTRUSTED_CA'
  | 'CERTIFICATE_EXPIRED'
  | 'MISSING_SCT'
  | 'UNTRUSTED_SCT'
  | 'MISSING_TLOG_ENTRY'
  | 'INVALID_TLOG_ENTRY'
  | 'MISSING_TIMESTAMP'
  | 'INVALID_TIMESTAMP'
  | 'UNSIGNED'
  | 'MALFORMED_SIGNATURE';

export interface SignatureVerdict {
  /** True only if the signature passed, or the package is unsigned and the policy allows that. */
  verified: boolean;
  method: SignatureMethod;
  /** True for cosign pairs: no transparency log entry, chain checked at certificate issuance. */
  weakerCheck: boolean;
  signerIdentity?: string;
  signerIssuer?: string;
  signerRepository?: string;
  /** When not verified: an operator-facing phrase such as 'tampered' or 'wrong identity: ...'. */
  reason?: string;
  code?: SignatureCode;
  /**
   * Present when verified with a signature: what DownloadableFile.signature may carry. `cosign` is
   * the supervisor's `<base64 of PEM cert> <base64 of DER signature>`; `bundle` the bundle JSON.
   */
  wireSignatures?: { cosign: Buffer; bundle?: Buffer };
}

export interface VerifyInput {
  artifactPath: string;
  sidecars: Sidecars;
}

/**
 * A sidecar is a few KiB (a bundle holds one certificate chain and one log entry); anything far
 * larger is refused before it is read, so a huge or endless file cannot fill the heap.
 */
export const MAX_SIDECAR_BYTES = 1024 * 1024;

/** Reads a sidecar through one descriptor, refusing it when it is over the limit. */
async function readSidecar(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > MAX_SIDECAR_BYTES) throw new Error(`${size} bytes, over the ${MAX_SIDECAR_BYTES}-byte limit for a signature file`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

const WORKFLOW_REPOSITORY_NOTE = 'GitHub workflow repository';

/**
 * Verifies one artifact against its sidecars. A bundle is preferred over a cosign pair when both
 * exist (it proves more). Never throws for signature problems; those come back as a verdict. A
 * failure to read the artifact itself is thrown, since that says nothing about the signature.
 */
export async function verifyArtifact(
  input: VerifyInput,
  trust: { trustMaterial: TrustMaterial },
  policy: SignaturePolicy,
): Promise<SignatureVerdict> {
  const { bundlePath, certificatePath, signaturePath } = input.sidecars;
  if (bundlePath !== undefined) {
    return verifyBundleFile(input.artifactPath, bundlePath, trust.trustMaterial, policy);
  }
  if (certificatePath !== undefined || signaturePath !== undefined) {
    if (certificatePath === undefined || signaturePath === undefined) {
      const missing = certificatePath === undefined ? '.pem certificate' : '.sig signature';
      return failure('cosign-pair', true, 'MALFORMED_SIGNATURE', `malformed signature: the ${missing} is missing`);
    }
    return verifyCosignFiles(input.artifactPath, certificatePath, signaturePath, trust.trustMaterial, policy);
  }
  if (policy.allowUnsigned) return { verified: true, method: 'unsigned', weakerCheck: false };
  return failure('unsigned', false, 'UNSIGNED', 'no signature');
}

async function verifyBundleFile(
  artifactPath: string,
  bundlePath: string,
  trustMaterial: TrustMaterial,
  policy: SignaturePolicy,
): Promise<SignatureVerdict> {
  const method = 'bundle';
  let bundleBytes: Buffer;
  let bundle: Bundle;
  let certificate: X509Certificate;
  try {
    bundleBytes = await readSidecar(bundlePath);
    bundle = bundleFromJSON(JSON.parse(bundleBytes.toString('utf8')));
    certificate = bundleCertificate(bundle);
    if (bundle.content.$case !== 'messageSignature') {
      throw new Error('DSSE bundles are not accepted for package tarballs');
    }
  } catch (error) {
    return failure(method, false, 'MALFORMED_SIGNATURE', `malformed signature: ${describe(error)}`);
  }
  const identity = certificateIdentity(certificate);
  const artifact = await readFile(artifactPath);
  const entity = toSignedEntity(bundle, artifact);
  const verifier = new Verifier(trustMaterial, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 });
  const cryptoFailure = runVerifier(verifier, entity, method, false, identity);
  if (cryptoFailure !== undefined) return cryptoFailure;
  const policyFailure = policyVerdict(policy, identity, method, false);
  if (policyFailure !== undefined) return policyFailure;
  const signature = Buffer.from(bundle.content.messageSignature.signature);
  const cosign = `${cosignCertificateText(certificate)} ${signature.toString('base64')}`;
  return {
    ...signerFields(identity),
    verified: true,
    method,
    weakerCheck: false,
    wireSignatures: { cosign: Buffer.from(cosign, 'utf8'), bundle: bundleBytes },
  };
}

async function verifyCosignFiles(
  artifactPath: string,
  certificatePath: string,
  signaturePath: string,
  trustMaterial: TrustMaterial,
  policy: SignaturePolicy,
): Promise<SignatureVerdict> {
  const method = 'cosign-pair';
  let certificateText: string;
  let signatureText: string;
  let certificate: X509Certificate;
  let signature: Buffer;
  try {
    certificateText = (await readSidecar(certificatePath)).toString('utf8').trim();
    signatureText = (await readSidecar(signaturePath)).toString('utf8').trim();
    certificate = parseCertificateText(certificateText);
    signature = decodeBase64Strict(signatureText, '.sig');
  } catch (error) {
    return failure(method, true, 'MALFORMED_SIGNATURE', `malformed signature: ${describe(error)}`);
  }
  const identity = certificateIdentity(certificate);
  const artifact = await readFile(artifactPath);
  const entity = cosignPairEntity(certificate, signature, artifact);
  // No tlog entry exists for a bare pair, so none is required; the SCT still is, because it is
  // the only public record that Fulcio issued this certificate.
  const verifier = new Verifier(trustMaterial, { tlogThreshold: 0, ctlogThreshold: 1, timestampThreshold: 1 });
  const cryptoFailure = runVerifier(verifier, entity, method, true, identity);
  if (cryptoFailure !== undefined) return cryptoFailure;
  const policyFailure = policyVerdict(policy, identity, method, true);
  if (policyFailure !== undefined) return policyFailure;
  // The wire form is the two sidecar files verbatim (both already base64), as the supervisor
  // expects; a certificate given as plain PEM is re-encoded to that form.
  const wireCertificate = certificateText.startsWith('-----BEGIN') ? cosignCertificateText(certificate) : certificateText;
  return {
    ...signerFields(identity),
    verified: true,
    method,
    weakerCheck: true,
    wireSignatures: { cosign: Buffer.from(`${wireCertificate} ${signatureText}`, 'utf8') },
  };
}

/**
 * A signed entity for a bare cosign pair. The Verifier insists on a trusted time to check the
 * certificate chain at, and a pair has none; checking at "now" would fail every Fulcio certificate
 * (they live ten minutes). So the certificate's own notBefore stands in as the time, which is the
 * offline compromise: chain, SCT and signature are checked, expiry and revocation of the signing
 * event are not. The Verifier reads times from `timestamps` but only proves the entries listed in
 * `tlogEntries`, which stays empty, so this entry claims a time and nothing else.
 */
function cosignPairEntity(certificate: X509Certificate, signature: Buffer, artifact: Buffer): SignedEntity {
  const issuance: TransparencyLogEntry = {
    logIndex: '0',
    logId: { keyId: Buffer.from('certificate-notBefore') },
    kindVersion: { kind: 'hashedrekord', version: '0.0.1' },
    integratedTime: String(Math.floor(certificate.notBefore.getTime() / 1000)),
    inclusionPromise: { signedEntryTimestamp: Buffer.alloc(0) },
    inclusionProof: undefined,
    canonicalizedBody: Buffer.alloc(0),
  };
  return {
    signature: {
      signature,
      compareSignature: (other: Buffer) => crypto.bufferEqual(other, signature),
      // Only tlog body checks compare digests, and a pair has no tlog entry to check.
      compareDigest: () => false,
      verifySignature: (key) => crypto.verify(artifact, key, signature, 'sha256'),
    },
    key: { $case: 'certificate', certificate },
    tlogEntries: [],
    timestamps: [{ $case: 'transparency-log', tlogEntry: issuance }],
  };
}

function runVerifier(
  verifier: Verifier,
  entity: SignedEntity,
  method: SignatureMethod,
  weakerCheck: boolean,
  identity: CertificateIdentity,
): SignatureVerdict | undefined {
  try {
    verifier.verify(entity);
    return undefined;
  } catch (error) {
    const { code, reason } = classifyLibraryError(error);
    return { ...failure(method, weakerCheck, code, reason), ...signerFields(identity) };
  }
}

function policyVerdict(
  policy: SignaturePolicy,
  identity: CertificateIdentity,
  method: SignatureMethod,
  weakerCheck: boolean,
): SignatureVerdict | undefined {
  const mismatch = checkIdentity(policy, identity);
  if (mismatch === undefined) return undefined;
  const detail: Record<typeof mismatch, [SignatureCode, string | undefined]> = {
    'wrong identity': ['UNTRUSTED_SIGNER', identity.identity],
    'wrong issuer': ['UNTRUSTED_ISSUER', identity.issuer],
    'wrong repository': ['UNTRUSTED_REPOSITORY', identity.repository],
  };
  const [code, got] = detail[mismatch];
  const subject = mismatch === 'wrong repository' ? `${WORKFLOW_REPOSITORY_NOTE} ` : '';
  const reason = `${mismatch}: certificate names ${subject}${got === undefined ? '(none)' : JSON.stringify(got)}`;
  return { ...failure(method, weakerCheck, code, reason), ...signerFields(identity) };
}

/** Maps a @sigstore/verify error to an operator-facing reason, by the library's code and message. */
export function classifyLibraryError(error: unknown): { code: SignatureCode; reason: string } {
  const libraryCode = errorCode(error);
  const message = describe(error);
  const causeMessage = error instanceof Error && error.cause !== undefined ? describe(error.cause) : undefined;
  switch (libraryCode) {
    case 'SIGNATURE_ERROR':
      return { code: 'SIGNATURE_MISMATCH', reason: 'tampered: the signature does not match the artifact' };
    case 'CERTIFICATE_ERROR':
      if (/SCTs, got 0/.test(message)) return { code: 'MISSING_SCT', reason: 'no SCT: the certificate carries no SCT' };
      if (/SCT/.test(message)) {
        return { code: 'UNTRUSTED_SCT', reason: 'no SCT: no SCT from a CT log in the trusted root' };
      }
      if (/expired/.test(causeMessage ?? message)) {
        return { code: 'CERTIFICATE_EXPIRED', reason: 'expired certificate: not valid at the signing time' };
      }
      return {
        code: 'UNTRUSTED_CA',
        reason: `untrusted CA: ${causeMessage ?? message} (no CA in the trusted root issued the certificate)`,
      };
    case 'TLOG_ERROR':
      if (/tlog entries, got/.test(message)) {
        return { code: 'MISSING_TLOG_ENTRY', reason: 'no tlog entry: the bundle has no transparency log entry' };
      }
      return { code: 'INVALID_TLOG_ENTRY', reason: `no tlog entry: ${message}` };
    case 'TLOG_INCLUSION_PROOF_ERROR':
    case 'TLOG_INCLUSION_PROMISE_ERROR':
    case 'TLOG_MISSING_INCLUSION_ERROR':
      return { code: 'INVALID_TLOG_ENTRY', reason: `no tlog entry: ${message}` };
    case 'TLOG_BODY_ERROR':
      return { code: 'SIGNATURE_MISMATCH', reason: `tampered: the tlog entry does not match (${message})` };
    case 'TIMESTAMP_ERROR':
      if (/timestamps, got 0/.test(message)) {
        return { code: 'MISSING_TIMESTAMP', reason: 'no tlog entry: no trusted timestamp (tlog entry or TSA)' };
      }
      return { code: 'INVALID_TIMESTAMP', reason: `untrusted CA: timestamp not from a trusted TSA (${message})` };
    case 'PUBLIC_KEY_ERROR':
      return { code: 'UNTRUSTED_CA', reason: `untrusted CA: ${message}` };
    default:
      return { code: 'MALFORMED_SIGNATURE', reason: `malformed signature: ${message}` };
  }
}

function bundleCertificate(bundle: Bundle): X509Certificate {
  const material = bundle.verificationMaterial.content;
  switch (material.$case) {
    case 'certificate':
      return X509Certificate.parse(Buffer.from(material.certificate.rawBytes));
    case 'x509CertificateChain': {
      const leaf = material.x509CertificateChain.certificates[0];
      if (leaf === undefined) throw new Error('the certificate chain is empty');
      return X509Certificate.parse(Buffer.from(leaf.rawBytes));
    }
    case 'publicKey':
      throw new Error('the bundle is signed with a key, not a Fulcio certificate');
  }
}

function decodeBase64Strict(text: string, what: string): Buffer {
  if (text === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new Error(`${what} is not base64`);
  return Buffer.from(text, 'base64');
}

function failure(method: SignatureMethod, weakerCheck: boolean, code: SignatureCode, reason: string): SignatureVerdict {
  return { verified: false, method, weakerCheck, code, reason };
}

function signerFields(identity: CertificateIdentity): Partial<SignatureVerdict> {
  const fields: Partial<SignatureVerdict> = {};
  if (identity.identity !== undefined) fields.signerIdentity = identity.identity;
  if (identity.issuer !== undefined) fields.signerIssuer = identity.issuer;
  if (identity.repository !== undefined) fields.signerRepository = identity.repository;
  return fields;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
