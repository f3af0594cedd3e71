import { createHmac, timingSafeEqual } from 'node:crypto';
import type { DraftEvent } from './chain.js';
import type { Checkpoint } from './event.js';

/** How a gateway signs checkpoints: under `audit.anchor_key`, every `everyEvents` events and at least every `everyMs`. */
export interface CheckpointSettings {
  key: Buffer;
  everyEvents: number;
  everyMs: number;
}

/**
 * The text signed: a fixed label (so no other HMAC under the same key can
 * pass for a checkpoint), the covered event's seq and hash, the previous
 * checkpoint's seq, the seq reached before a cut (`-`: none), and the
 * checkpoint's time exactly as the event stores it.
 */
function signedText(fields: Omit<Checkpoint, 'mac'>, time: string): string {
  return ['airlock audit checkpoint v1', fields.seq, fields.hash, fields.previous, fields.reached ?? '-', time].join('\n');
}

export function checkpointMac(key: Buffer, fields: Omit<Checkpoint, 'mac'>, time: string): string {
  return createHmac('sha256', key).update(signedText(fields, time)).digest('hex');
}

/** Whether `mac` is the checkpoint's signature under `key`, compared in constant time. */
export function checkpointSigned(key: Buffer, checkpoint: Checkpoint, time: string): boolean {
  const expected = Buffer.from(checkpointMac(key, checkpoint, time), 'hex');
  const given = Buffer.from(checkpoint.mac, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The `audit_checkpoint` event that signs the chain up to event `seq` (hash `hash`). */
export function checkpointDraft(key: Buffer, covers: Omit<Checkpoint, 'mac'>, time: number, instance: string): DraftEvent {
  const iso = new Date(time).toISOString();
  return { time: iso, event: 'audit_checkpoint', instance, checkpoint: { ...covers, mac: checkpointMac(key, covers, iso) } };
}
