import { splitWords } from './inventory/index.js';

export const REDACTED = '[redacted]';

/**
 * Secrets inside any string, whatever its key is called, each replaced where
 * it stands so the rest of the text (a command line, a header list) stays
 * readable: bearer and basic credentials, header lines that carry them, a
 * password in a URL, tokens whose format announces them (Slack, GitHub, AWS
 * access keys, `sk-` API keys), PEM private keys.
 */
const SECRETS_IN_TEXT: [RegExp, string][] = [
  [/\b([Bb]earer\s+)[A-Za-z0-9._~+/=-]{6,}/g, `$1${REDACTED}`],
  // "Basic information" is not a credential: a short one needs a digit.
  [/\b((?:Basic|Token)\s+)(?:(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}|[A-Za-z0-9._~+/=-]{16,})/g, `$1${REDACTED}`],
  [/\b((?:proxy-)?authorization\s*[:=]\s*(?:(?:Basic|Bearer|Token|Digest)\s+)?)[^\s"',;]+/gi, `$1${REDACTED}`],
  [/^(\s*(?:cookie|set-cookie|x-api-key|api-key|x-auth-token)\s*:\s*)\S.*$/gim, `$1${REDACTED}`],
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)[^@\s/]+@/gi, `$1${REDACTED}@`],
  [/\b(?:xox[abposr]|xapp)-[A-Za-z0-9-]{6,}/g, REDACTED],
  [/\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g, REDACTED],
  [/\bAKIA[0-9A-Z]{16}\b/g, REDACTED],
  [/\bsk-(?:[a-z]+-)?[A-Za-z0-9_-]{16,}/g, REDACTED],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, REDACTED],
];

/**
 * Hides secret values before arguments are shown to people or stored
 * (Slack messages, the audit trail): a value under a key one of whose words
 * (`apiKey`, `X-Auth-Token`, `db_password`) is a secret word, and any
 * credential inside a string. The call itself is sent unredacted.
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
        const hidden = hideSecretsIn(node);
        if (hidden !== node) redacted = true;
        return hidden;
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

function hideSecretsIn(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRETS_IN_TEXT) out = out.replace(pattern, replacement);
  return out;
}
