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

/** One cheap look first: most texts hold none of the words the patterns above start from. */
const MIGHT_HOLD_CREDENTIALS = /bearer|basic|token|authoriz|cookie|api-key|:\/\/|xox|xapp|gh[pousr]_|github_pat_|AKIA|sk-|PRIVATE KEY/i;

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

  /**
   * Hides in free text (the policy's reason, an upstream error) every value
   * `redact` hides in the arguments, since a condition's reason quotes the
   * argument it tested (`args.api_key is "sk_live_…"`) and an error may echo
   * one, and any credential of a known shape. `shown`: what `redact` made of
   * `args`, when the caller has it already.
   */
  textHider(args: Record<string, unknown>, shown: unknown = this.redact(args).value): (text: string) => string {
    const secrets = new Set<string>();
    const collect = (original: unknown, shown: unknown): void => {
      if (shown === REDACTED && original !== REDACTED) {
        for (const leaf of leaves(original)) secrets.add(leaf).add(JSON.stringify(leaf).slice(1, -1));
        return;
      }
      if (original !== null && typeof original === 'object' && shown !== null && typeof shown === 'object') {
        for (const [key, child] of Object.entries(original)) collect(child, (shown as Record<string, unknown>)[key]);
      }
    };
    collect(args, shown);
    // Longest first, so a secret containing another is hidden whole.
    const ordered = [...secrets].filter((s) => s !== '').sort((a, b) => b.length - a.length);
    return (text) => hideCredentialsIn(ordered.reduce((hidden, secret) => hidden.split(secret).join(REDACTED), text));
  }

  /** A copy of `value` with secrets replaced by `[redacted]`; whether anything was. */
  redact(value: unknown): { value: unknown; redacted: boolean } {
    let redacted = false;
    const walk = (node: unknown): unknown => {
      if (typeof node === 'string') {
        const hidden = hideCredentialsIn(node);
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

/** Credentials of a known shape hidden in free text (all that can be done for text that comes with no arguments). */
export function hideCredentialsIn(text: string): string {
  if (!MIGHT_HOLD_CREDENTIALS.test(text)) return text;
  let out = text;
  for (const [pattern, replacement] of SECRETS_IN_TEXT) out = out.replace(pattern, replacement);
  return out;
}

/** The texts of a hidden value. Short numbers and booleans (`secret_enabled: true`) are left out: hiding every "1" or "true" in a reason would garble it and protect nothing. */
function leaves(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object') return String(value).length >= 4 ? [String(value)] : [];
  return Object.values(value).flatMap(leaves);
}
