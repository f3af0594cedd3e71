import { globToRegExp } from './glob.js';
import type { AccessSpec } from './schema.js';
import { LINEAR_FLAGS, uriGlobToRegExp, whyUriGlobNeverMatches } from './uri-glob.js';

export type AccessSection = 'resources' | 'prompts';

export interface AccessGlob {
  pattern: string;
  /** `resources.deny[2]`, for the decision's rule. */
  where: string;
  matches(text: string): boolean;
}

/** A `resources` or `prompts` section ready to evaluate; a section the document leaves out compiles to its default alone. */
export interface CompiledAccess {
  section: AccessSection;
  default: 'allow' | 'deny';
  /** `resources.default` when the section sets one, else `default`. */
  defaultRule: string;
  /** Whether the document has the section at all (a PolicyLayer document has neither). */
  written: boolean;
  hide: readonly AccessGlob[];
  deny: readonly AccessGlob[];
  allow: readonly AccessGlob[];
}

type At = (path: readonly PropertyKey[], message: string) => void;

export function compileAccess(
  section: AccessSection,
  spec: AccessSpec | undefined,
  policyDefault: 'allow' | 'deny',
  at: At,
): CompiledAccess {
  const list = (key: 'hide' | 'deny' | 'allow'): AccessGlob[] =>
    (spec?.[key] ?? []).map((pattern, i) => {
      const never =
        section === 'resources' ? whyUriGlobNeverMatches(pattern) : pattern === '' ? 'an empty name matches no prompt' : undefined;
      if (never) at([section, key, i], never);
      return { pattern, where: `${section}.${key}[${i}]`, matches: matcher(section, pattern) };
    });
  // Compiled in the order docs/policy.md writes them, so problems are reported in that order too.
  const [allow, deny, hide] = [list('allow'), list('deny'), list('hide')];
  return {
    section,
    default: spec?.default ?? policyDefault,
    defaultRule: spec?.default === undefined ? 'default' : `${section}.default`,
    written: spec !== undefined,
    hide,
    deny,
    allow,
  };
}

function matcher(section: AccessSection, pattern: string): (text: string) => boolean {
  const wildcards = section === 'resources' ? ['*'] : ['*', '?'];
  const first = Math.min(...wildcards.map((w) => pattern.indexOf(w)).filter((i) => i !== -1));
  if (first === Infinity) return (text) => text === pattern;
  // Prompt names are the agent's to choose: several `*` would backtrack on a long one, so prompt globs run on the
  // linear-time engine too. That engine is several times slower, and most globs of a list fail on their literal
  // ends, so those are compared first.
  const regex = section === 'resources' ? uriGlobToRegExp(pattern) : new RegExp(globToRegExp(pattern).source, LINEAR_FLAGS);
  const prefix = pattern.slice(0, first);
  const suffix = pattern.slice(Math.max(...wildcards.map((w) => pattern.lastIndexOf(w))) + 1);
  return (text) => text.startsWith(prefix) && text.endsWith(suffix) && regex.test(text);
}
