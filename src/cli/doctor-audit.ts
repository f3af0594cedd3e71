import type { LoadedConfig } from '../config/index.js';
import type { Check } from './doctor-check.js';

/**
 * A warning when the audit trail has no anchor key: its hash chain shows an
 * event changed or removed in the middle, but not events removed from its
 * end with the head set back, which only signed checkpoints reveal.
 */
export function auditChecks(config: LoadedConfig): Check[] {
  if (config.audit.anchor_key !== undefined) return [];
  return [
    {
      level: 'warn',
      what: 'audit anchor',
      detail:
        'audit.anchor_key is not set, so events cut from the end of the audit trail cannot be told; set it to a secret of 32 or more characters (openssl rand -base64 32), the same for every gateway',
    },
  ];
}
