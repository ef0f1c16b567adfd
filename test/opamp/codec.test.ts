// The uid text is the key agents are stored and listed under, and what operators type into
// the admin API: it must be the canonical UUID form for every possible byte value.
import crypto from 'node:crypto';
import t from 'tap';
import { uidFromString, uidToString } from '../../src/opamp/codec';

/** The canonical form written the plain way, to hold the fast one against. */
const canonical = (bytes: Buffer): string => {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

t.test('uidToString gives the canonical lowercase UUID text', async (t) => {
  const samples = [Buffer.alloc(16, 0), Buffer.alloc(16, 0xff), Buffer.from(Array.from({ length: 16 }, (_, index) => index * 17))];
  for (let index = 0; index < 2000; index += 1) samples.push(crypto.randomBytes(16));
  const wrong = samples.filter((bytes) => uidToString(bytes) !== canonical(bytes));
  t.same(wrong.map((bytes) => bytes.toString('hex')), [], 'every sample matches');
  t.equal(uidToString(Buffer.from('0190a1b2c3d47e5f8a9b0c1d2e3f4a5b', 'hex')), '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
  // Calls share a scratch array: a second call must not change the first result.
  const first = uidToString(samples[1]!);
  uidToString(samples[0]!);
  t.equal(first, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
});

t.test('uidToString reads a view into a larger buffer from its own offset', async (t) => {
  const backing = Buffer.alloc(40, 0xee);
  const uid = crypto.randomBytes(16);
  uid.copy(backing, 7);
  t.equal(uidToString(backing.subarray(7, 23)), canonical(uid));
});

t.test('ids of other lengths are shown as hex, and text round-trips', async (t) => {
  t.equal(uidToString(Buffer.from([1, 2, 255])), '0102ff');
  t.equal(uidToString(new Uint8Array(0)), '');
  const uid = crypto.randomBytes(16);
  t.same(uidFromString(uidToString(uid)), uid);
  t.same(uidFromString(uidToString(uid).toUpperCase()), uid, 'upper case accepted');
  t.equal(uidFromString('not-a-uuid'), undefined);
});
