import { splitWords } from './inventory/index.js';

export const REDACTED = '[redacted]';

/**
 * Values that are secrets whatever their key is called: a bearer header, and
 * token formats that announce themselves (Slack, GitHub, AWS access keys,
 * OpenAI/Anthropic-style `sk-`, PEM private keys).
 */
const SECRET_VALUE = /^(?:Bearer\s+\S|Basic\s+[A-Za-z0-9+/=]{8}|xox[abposr]-|xapp-|gh[pousr]_[A-Za-z0-9]{20}|github_pat_|AKIA[0-9A-Z]{16}|sk-[A-Za-z0-9_-]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----)/;

/**
 * Hides secret values before arguments are shown to people or stored
 * (Slack messages, the audit trail): a value under a key one of whose words
 * (`apiKey`, `X-Auth-Token`, `db_password`) is a secret word, and any string
 * that looks like a credential. The call itself is sent unredacted.
 */
export class Redactor {
  readonly #words: ReadonlySet<string>;

  /** `keys`: words that mark a value secret (`redact.keys`). */
  constructor(keys: readonly string[]) {
    this.#words = new Set(keys.map((key) => key.toLowerCase()));
  }

  isSecretKey(key: string): boolean {
    return this.#words.has(key.toLowerCase()) || splitWords(key).some((word) => this.#words.has(word));
  }

  /** A copy of `value` with secrets replaced by `[redacted]`; whether anything was. */
  redact(value: unknown): { value: unknown; redacted: boolean } {
    let redacted = false;
    const walk = (node: unknown): unknown => {
      if (typeof node === 'string') {
        if (!SECRET_VALUE.test(node)) return node;
        redacted = true;
        return REDACTED;
      }
      if (Array.isArray(node)) return node.map(walk);
      if (node === null || typeof node !== 'object') return node;
      // fromEntries defines own properties, so a `__proto__` key stays a key.
      return Object.fromEntries(
        Object.entries(node).map(([key, child]) => {
          if (!this.isSecretKey(key) || child === null || child === '') return [key, walk(child)];
          redacted = true;
          return [key, REDACTED];
        }),
      );
    };
    return { value: walk(value), redacted };
  }
}
