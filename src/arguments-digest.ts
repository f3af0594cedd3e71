import { createHmac } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

/** The digest of a call's arguments: what approvals bind to and audit events carry. */
export type ArgumentsDigest = (args: Record<string, unknown>) => string;

/**
 * HMAC-SHA256 (hex) over the canonical JSON of the arguments (so key order
 * and number spelling cannot change it), under the deployment's key (see
 * loadDigestKey). Keyed because an audit event keeps the digest of the
 * arguments as sent beside a copy whose secrets are redacted: a plain hash
 * would let anyone holding an export or the mirror test guesses of a short
 * secret offline, the other arguments being right there.
 */
export function argumentsDigest(key: Buffer): ArgumentsDigest {
  return (args) => createHmac('sha256', key).update(canonicalJson(args)).digest('hex');
}
