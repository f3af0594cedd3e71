import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * What Airlock's own `requestState` carries of one call between its rounds,
 * sealed so the client can neither read nor change it: whose call it is
 * (grant, endpoint), what it is (server, method, tool/prompt/URI, the keyed
 * digest of its arguments), the server's own state to give back, the
 * questions that round asked, and the pipeline's request id, so every round
 * is audited as the one call it is.
 */
export const SealedCallSchema = z
  .object({
    grant: z.string().nullable(),
    /** `/mcp` or `/mcp/<server>`: a state handed out on one endpoint is refused on another. */
    endpoint: z.string(),
    server: z.string(),
    method: z.enum(['tools/call', 'prompts/get', 'resources/read']),
    /** The tool or prompt name as the server knows it, or the resource URI. */
    target: z.string(),
    digest: z.string(),
    request_id: z.string(),
    /** The server's own `requestState`, passed back to it as it sent it. */
    upstream: z.string().optional(),
    /** The keys of the round's `inputRequests` and their methods: only answers to these are passed on. */
    asked: z.array(z.tuple([z.string(), z.string()])),
    /** How the policy admitted the call, for the audit events of later rounds. */
    decision: z.object({ action: z.string(), rule: z.string() }),
    approval_id: z.string().optional(),
    round: z.int().positive(),
    /** A call to a 2025 server that asked mid-call: the instance where it goes on running, and its id there (see ParkedCall). */
    parked: z.object({ instance: z.string(), id: z.string() }).strict().optional(),
    /** Expiry, ms since the epoch (this instance's clock: states live minutes, instances agree on time well enough). */
    exp: z.number(),
  })
  .strict();
export type SealedCall = z.infer<typeof SealedCallSchema>;

/** Why a state was refused: its bytes (not ours, or changed), or its age. Its bindings are checked by the caller. */
export type OpenFailure = 'malformed' | 'forged' | 'expired';

export interface StateSeal {
  seal(call: Omit<SealedCall, 'exp'>): string;
  open(wire: string): { ok: true; call: SealedCall } | { ok: false; reason: OpenFailure };
}

const PREFIX = 'al1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Bound to the format's version, so a state of a later format is never read as this one. */
const AAD = Buffer.from('airlock/requestState/v1');
/** Far more than any state Airlock seals (the server's own state is capped below it): a longer one is refused unread. */
export const MAX_STATE_CHARS = 128 * 1024;

/**
 * AES-256-GCM under a key derived (HKDF-SHA256) from the deployment's
 * requestState key, with a random IV per state. Encrypted, not only signed
 * as the SDK's createRequestStateCodec is: the state holds the grant, the
 * request id and the server's own state, none of which the client needs to
 * read; and the expiry follows the injected clock, so it is tested without
 * waiting.
 */
export function stateSeal(sharedKey: Buffer, options: { ttlMs: number; now: () => number }): StateSeal {
  const key = Buffer.from(hkdfSync('sha256', sharedKey, Buffer.alloc(0), 'airlock requestState AES-256-GCM', 32));
  return {
    seal(call) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(AAD);
      const body = Buffer.concat([cipher.update(JSON.stringify({ ...call, exp: options.now() + options.ttlMs }), 'utf8'), cipher.final()]);
      return PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
    },
    open(wire) {
      if (wire.length > MAX_STATE_CHARS || !wire.startsWith(PREFIX)) return { ok: false, reason: 'malformed' };
      const bytes = Buffer.from(wire.slice(PREFIX.length), 'base64url');
      if (bytes.length <= IV_BYTES + TAG_BYTES) return { ok: false, reason: 'malformed' };
      let plain: string;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES)).setAAD(AAD);
        decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
        plain = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        return { ok: false, reason: 'forged' };
      }
      // Only Airlock could have sealed it; checked all the same, as a state an older version sealed may differ.
      const parsed = SealedCallSchema.safeParse(JSON.parse(plain));
      if (!parsed.success) return { ok: false, reason: 'malformed' };
      if (parsed.data.exp <= options.now()) return { ok: false, reason: 'expired' };
      return { ok: true, call: parsed.data };
    },
  };
}
