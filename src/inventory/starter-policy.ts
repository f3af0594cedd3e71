import { createHash } from 'node:crypto';
import type { Tool } from '@modelcontextprotocol/client';
import { Document, isScalar, type YAMLMap } from 'yaml';
import type { Action, RiskClass } from '../policy/index.js';
import { classifyTool, type Classification } from './classify.js';

interface StarterRule {
  action?: Action;
  reason?: string;
  limits?: { counter: string; window: string; max: number; scope: 'grant' }[];
}

/**
 * Calls a person has to approve are slow anyway; the limit is there so an
 * agent in a loop cannot bury reviewers. Running code gets the tighter one.
 * Limits count per grant: the `rate_limit` shorthand counts per session, and
 * an agent that reconnects gets a new session and so a new count.
 */
const RATE_LIMITS: Record<Exclude<RiskClass, 'read' | 'destructive'>, { max: number; window: string }> = {
  write: { max: 10, window: 'minute' },
  execute: { max: 5, window: 'minute' },
  unknown: { max: 5, window: 'minute' },
};

// The policy loader refuses names it could never match (compile.ts, glob.ts); these are the same limits.
const MAX_TOOL_NAME_CHARS = 128;
// Counter names as the policy schema accepts them (src/policy/schema.ts).
const COUNTER_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * A policy for one server's tools as YAML text: `default: deny`, read tools
 * allowed, write, execute and unknown tools held for approval under a rate
 * limit, destructive tools denied. Each rule is preceded by a comment with
 * the class, level and evidence, so a person can review it line by line.
 * Pure: the caller fetches the tool list and writes the file.
 */
export function starterPolicy(server: string, tools: Tool[], classify: (tool: Tool) => Classification = classifyTool): string {
  const rules = new Map<string, StarterRule>();
  const counters = new Set<string>();
  const comments = new Map<string, string>();
  const unlisted: string[] = [];
  for (const tool of tools) {
    const name: unknown = tool?.name;
    if (typeof name !== 'string') {
      unlisted.push(`a tool without a name (${typeof name}) cannot be listed`);
      continue;
    }
    if (rules.has(name)) continue;
    const unlistable = whyUnlistable(name);
    if (unlistable) {
      unlisted.push(`${printable(JSON.stringify(name))} ${unlistable}`);
      continue;
    }
    const classification = classify(tool);
    rules.set(
      name,
      ruleFor(classification, () => counterFor(name, counters)),
    );
    comments.set(name, `${classification.class}, ${classification.level}: ${classification.evidence.join('; ')}`);
  }

  const doc = new Document({ version: '1', default: 'deny', tools: rules });
  doc.commentBefore = header(server, rules.size);
  const listed = doc.get('tools', true) as YAMLMap;
  for (const pair of listed.items) {
    if (isScalar(pair.key)) pair.key.commentBefore = ` ${printable(comments.get(String(pair.key.value)) ?? '')}`;
  }
  if (unlisted.length > 0) {
    doc.comment = [' Not listed, so denied by default:', ...unlisted.map((line) => ` - ${line}`)].join('\n');
  }
  return doc.toString({ lineWidth: 0 });
}

function ruleFor({ class: riskClass, level, evidence }: Classification, counter: () => string): StarterRule {
  const why = `${/^[aeiou]/.test(riskClass) ? 'an' : 'a'} ${riskClass} tool, ${level} risk (${evidence[0] ?? 'no evidence'})`;
  switch (riskClass) {
    case 'read':
      return {};
    case 'destructive':
      return { action: 'deny', reason: `Denied by the starter policy: ${why}; allow it deliberately if agents need it` };
    default:
      return {
        action: 'require_approval',
        reason: `Needs approval under the starter policy: ${why}`,
        limits: [{ counter: counter(), window: RATE_LIMITS[riskClass].window, max: RATE_LIMITS[riskClass].max, scope: 'grant' }],
      };
  }
}

/**
 * Each tool counts on its own counter, `<tool>_rate` as in the seed policy.
 * A name a counter cannot hold (a colon, quotes, or too long) is spelt with
 * safe characters and a digest of the name; and since a server chooses its
 * names, one could be made to collide with another's, so a taken name gets
 * a number rather than share a count (or a window) with another tool.
 */
function counterFor(name: string, taken: Set<string>): string {
  const plain = `${name}_rate`;
  const base = COUNTER_NAME.test(plain)
    ? plain
    : `${name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 96)}.${createHash('sha256').update(name).digest('hex').slice(0, 12)}_rate`;
  let counter = base;
  for (let n = 2; taken.has(counter); n++) counter = `${base}.${n}`;
  taken.add(counter);
  return counter;
}

/**
 * Why a policy should not name this tool: a key with `*` or `?` is a glob,
 * which would also let through tools the server adds later, and a key with
 * invisible characters (a bidirectional override) reads as another name.
 */
function whyUnlistable(name: string): string | undefined {
  if (name === '') return 'has an empty name';
  if (/\s/.test(name)) return 'contains whitespace, which a policy key cannot match';
  if (/[\p{Cc}\p{Cf}]/u.test(name)) return 'contains invisible characters, so a reviewer could not see which tool a rule is for';
  if (name.includes('*') || name.includes('?')) return 'contains "*" or "?", which a policy key would read as a glob';
  if (name.length > MAX_TOOL_NAME_CHARS) return `is longer than ${MAX_TOOL_NAME_CHARS} characters, which a policy key cannot match`;
  return undefined;
}

function header(server: string, count: number): string {
  return [
    ` Starter policy for ${printable(JSON.stringify(server))}, generated from its tool list (${count} tool${count === 1 ? '' : 's'} listed).`,
    ' Read tools are allowed; write, execute and unknown tools need approval, rate limited per grant',
    ' (scope: grant, so an agent that reconnects does not start a new count);',
    ' destructive tools are denied; tools not listed here, and tools the server adds later, are denied.',
    ' Each comment gives the risk class, level and evidence. Review every rule before use.',
  ].join('\n');
}

/**
 * Comment text on one line with nothing invisible: a tool's name or
 * arguments may hold line breaks or bidirectional-override characters,
 * which in a comment could end it early or make it read differently.
 */
function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (ch) => `\\u${(ch.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
}
