import type { AccessGlob, CompiledAccess } from './compile-access.js';
import type { CompiledPolicy } from './compile.js';
import { quoteName } from './quote-name.js';
import { MAX_URI_LENGTH, whyAmbiguous } from './uri-glob.js';

/** The policy's verdict on reading a resource or getting a prompt. */
export interface AccessDecision {
  action: 'allow' | 'deny' | 'hide';
  /** As for tools: `resources.allow[0]`, `prompts.hide[1]`, `resources.default`, `default`, or `resources` for a URI refused for its form. */
  rule: string;
  reason: string;
  /** The glob that matched, if one did. */
  matched?: string;
  /**
   * For `hide`: what the rest of the policy says, which is what a resource
   * or prompt that does not exist there is answered, so a hidden one can be
   * answered alike.
   */
  unhidden?: AccessDecision;
}

/** Prompt names longer than this are refused while `prompts` has globs: no server names a prompt so, and matching one costs. */
export const MAX_PROMPT_NAME_LENGTH = 1_024;

/**
 * The decision for one resource URI (`resources/read`, `resources/subscribe`,
 * a completion's `ref/resource`). Pure, as `evaluate` is.
 * Precedence: hide > deny > allow > default. While any glob is written, a
 * URI a server may read as another (`whyAmbiguous`) is denied unless a hide
 * glob matches it as written, so no spelling of a URI slips past the globs.
 */
export function evaluateResource(policy: CompiledPolicy, uri: string): AccessDecision {
  const access = policy.resources;
  const what = describe('resources', uri);
  if (!hasGlobs(access)) return byDefault(access, what);
  const ambiguous = whyAmbiguous(uri);
  if (!ambiguous) return decide(access, what, uri);
  const refused: AccessDecision = {
    action: 'deny',
    rule: 'resources',
    reason: `${what} ${ambiguous}: a server may read it as another resource than the one the policy's globs see, so Airlock refuses it; send the URI in its plain form`,
  };
  // Hide is the stricter answer, and a hidden resource must not be told apart from one that does not exist.
  const hidden = uri.length <= MAX_URI_LENGTH ? hiddenBy(access, uri) : undefined;
  return hidden ? { ...hidden, unhidden: refused } : refused;
}

/** The decision for one prompt (`prompts/get`, a completion's `ref/prompt`), by the name its server gives it. */
export function evaluatePrompt(policy: CompiledPolicy, name: string): AccessDecision {
  const access = policy.prompts;
  const what = describe('prompts', name);
  if (hasGlobs(access) && name.length > MAX_PROMPT_NAME_LENGTH) {
    return {
      action: 'deny',
      rule: 'prompts',
      reason: `${what} is longer than the ${MAX_PROMPT_NAME_LENGTH} characters Airlock compares with the policy's prompt names`,
    };
  }
  return decide(access, what, name);
}

/**
 * Whether a listed resource (or a template, by its `uriTemplate`) or prompt
 * is left out of the lists: a hide glob matches it as written. One too long
 * to compare is left out too, since using it is refused.
 */
export function isResourceHidden(policy: CompiledPolicy, uri: string): boolean {
  return isListedHidden(policy.resources, uri, MAX_URI_LENGTH);
}

export function isPromptHidden(policy: CompiledPolicy, name: string): boolean {
  return isListedHidden(policy.prompts, name, MAX_PROMPT_NAME_LENGTH);
}

function isListedHidden(access: CompiledAccess, text: string, max: number): boolean {
  if (access.hide.length === 0) return false;
  return text.length > max || hiddenBy(access, text) !== undefined;
}

function hasGlobs(access: CompiledAccess): boolean {
  return access.hide.length + access.deny.length + access.allow.length > 0;
}

function hiddenBy(access: CompiledAccess, text: string): AccessDecision | undefined {
  const glob = access.hide.find((g) => g.matches(text));
  return (
    glob && {
      action: 'hide',
      rule: glob.where,
      reason: `${describe(access.section, text)} is hidden by ${by(glob)}`,
      matched: glob.pattern,
    }
  );
}

function decide(access: CompiledAccess, what: string, text: string): AccessDecision {
  const hidden = hiddenBy(access, text);
  return hidden ? { ...hidden, unhidden: decideUnhidden(access, what, text) } : decideUnhidden(access, what, text);
}

function decideUnhidden(access: CompiledAccess, what: string, text: string): AccessDecision {
  const denied = access.deny.find((g) => g.matches(text));
  if (denied) return { action: 'deny', rule: denied.where, reason: `${what} is denied by ${by(denied)}`, matched: denied.pattern };
  const allowed = access.allow.find((g) => g.matches(text));
  if (allowed) return { action: 'allow', rule: allowed.where, reason: `${what} is allowed by ${by(allowed)}`, matched: allowed.pattern };
  return byDefault(access, what);
}

function byDefault(access: CompiledAccess, what: string): AccessDecision {
  const section = access.section;
  const reason = !access.written
    ? `${what}: the policy has no ${section} section, so ${section} follow its default, ${access.default}`
    : `${what} matches no glob in ${section}, and ${access.defaultRule === 'default' ? "the policy's default" : access.defaultRule} is ${access.default}`;
  return { action: access.default, rule: access.defaultRule, reason };
}

function by(glob: AccessGlob): string {
  return `${glob.where} (${JSON.stringify(glob.pattern)})`;
}

function describe(section: CompiledAccess['section'], text: string): string {
  return `${section === 'resources' ? 'resource' : 'prompt'} ${quoteName(text)}`;
}
