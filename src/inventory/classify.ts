import type { Tool } from '@modelcontextprotocol/client';
import type { RiskClass } from '../policy/index.js';
import { freeFormArguments, readSchema } from './free-form-arguments.js';
import { EXECUTE_NOUNS, STRONG_VERBS, VERBS, type VerbClass } from './vocabulary.js';
import { baseForms, firstSentence, splitWords } from './words.js';

export const RISK_LEVELS = ['low', 'medium', 'high', 'critical'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

export interface Classification {
  class: RiskClass;
  level: RiskLevel;
  /** Why: one short line a person can read per signal weighed. */
  evidence: string[];
}

// A server may send anything; these bound the work per tool whatever it sends.
const MAX_NAME_CHARS = 200;
const MAX_DESCRIPTION_CHARS = 4000;
const MAX_SENTENCE_CHARS = 300;

const BASE_LEVEL: Record<RiskClass, RiskLevel> = { read: 'low', write: 'medium', execute: 'high', destructive: 'high', unknown: 'medium' };
const DANGER: Record<VerbClass, number> = { read: 0, write: 1, execute: 2, destructive: 3 };

interface Reading {
  class: VerbClass;
  /** `verb "start" in the name` */
  source: string;
}

interface Hints {
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/**
 * A tool's risk class and level, from its name, description, input schema
 * and annotations. Pure and total: whatever an upstream sends, it returns a
 * classification, and a tool nothing speaks for is `unknown`, never `read`.
 * The name is weighed first because it is what agents and people see;
 * annotations are the server's own claim, so where they and the name
 * disagree, the more dangerous reading wins and the evidence says so.
 */
export function classifyTool(tool: Tool): Classification {
  const evidence: string[] = [];
  const cuts: string[] = [];
  // Optional chaining throughout: an upstream is not trusted to send a well-formed tool, or one at all.
  const name = boundedText(tool?.name, MAX_NAME_CHARS, 'name', cuts);
  const description = boundedText(tool?.description, MAX_DESCRIPTION_CHARS, 'description', cuts);
  const nameWords = splitWords(name);

  const byVerb = verbIn(nameWords, 'in the name', false);
  // A noun such as "job" backs up an execute verb (start_dicom_export_job) or stands in for a missing one (dicom_export_job).
  const byNoun = byVerb === undefined || byVerb.class === 'execute' ? executeNounIn(nameWords) : undefined;
  const byDescription =
    (byVerb ?? byNoun) ? undefined : verbIn(splitWords(firstSentence(description, MAX_SENTENCE_CHARS)), 'in the description', true);
  for (const reading of [byVerb, byNoun, byDescription]) if (reading) evidence.push(`${reading.source}: ${reading.class}`);

  const schema = readSchema(tool?.inputSchema);
  if (schema.kind === 'malformed') evidence.push(schema.problem);
  const freeForm = schema.kind === 'object' ? freeFormArguments(schema.properties, description) : [];

  let reading = byVerb ?? byNoun ?? byDescription;
  if (reading === undefined && freeForm.length > 0) {
    reading = { class: 'execute', source: `${describeArguments(freeForm)} and no verb` };
    evidence.push(`${reading.source}: execute`);
  }

  const hints = readHints(tool?.annotations);
  const riskClass = reconcile(reading, hints, evidence);
  const level = levelFor(riskClass, hints, freeForm, evidence);
  return { class: riskClass, level, evidence: [...evidence, ...cuts] };
}

/** The class the words and the annotations agree on, or the more dangerous of the two where they disagree. */
function reconcile(reading: Reading | undefined, hints: Hints, evidence: string[]): RiskClass {
  // destructiveHint and openWorldHint are reported with the level, which they may raise.
  for (const hint of ['readOnlyHint', 'idempotentHint'] as const) {
    if (hints[hint] !== undefined) evidence.push(`annotation ${hint}: ${String(hints[hint])}`);
  }
  const modifies = hints.readOnlyHint === false || (hints.readOnlyHint === undefined && hints.destructiveHint === true);

  if (reading === undefined) {
    if (hints.readOnlyHint === true) return 'read';
    if (hints.destructiveHint === true) return 'destructive';
    if (modifies) return 'write';
    evidence.push('nothing in the name, description or annotations says what it does: unknown');
    return 'unknown';
  }
  const contradicts = (annotation: string, verdict: RiskClass) =>
    evidence.push(
      `annotation ${annotation} contradicts ${reading.source} (${reading.class}): following the more dangerous reading, ${verdict}`,
    );
  if (reading.class === 'read' && modifies) {
    contradicts(hints.readOnlyHint === false ? 'readOnlyHint: false' : 'destructiveHint: true', 'write');
    return 'write';
  }
  if (reading.class !== 'read' && hints.readOnlyHint === true) contradicts('readOnlyHint: true', reading.class);
  if (reading.class === 'destructive' && hints.destructiveHint === false) contradicts('destructiveHint: false', 'destructive');
  return reading.class;
}

function levelFor(riskClass: RiskClass, hints: Hints, freeForm: string[], evidence: string[]): RiskLevel {
  let level = BASE_LEVEL[riskClass];
  const changes = riskClass !== 'read';
  // A change that may destroy data, or that reaches systems outside the server's own (the web, other people), is harder to take back.
  for (const hint of ['destructiveHint', 'openWorldHint'] as const) {
    const value = hints[hint];
    if (value === undefined) continue;
    const raises = changes && value && isBelow(level, 'high');
    if (raises) level = 'high';
    evidence.push(`annotation ${hint}: ${String(value)}${raises ? ' raises the level to high' : ''}`);
  }
  if (freeForm.length > 0) {
    level = RISK_LEVELS[Math.min(RISK_LEVELS.indexOf(level) + 1, RISK_LEVELS.length - 1)] ?? level;
    evidence.push(`${describeArguments(freeForm)} ${freeForm.length === 1 ? 'raises' : 'raise'} the level`);
  }
  return level;
}

function isBelow(level: RiskLevel, other: RiskLevel): boolean {
  return RISK_LEVELS.indexOf(level) < RISK_LEVELS.indexOf(other);
}

/**
 * The first verb decides (`get_pull_request_status` reads, though `pull`
 * and `request` could be verbs), unless a later verb that is seldom a noun
 * is more dangerous (`find_and_delete_duplicates`).
 */
function verbIn(words: string[], where: string, inflected: boolean): Reading | undefined {
  let found: { word: string; class: VerbClass } | undefined;
  for (const word of words) {
    const base = (inflected ? baseForms(word) : [word]).find((form) => VERBS.has(form));
    const verbClass = base && VERBS.get(base);
    if (!base || !verbClass) continue;
    if (found === undefined || (STRONG_VERBS.has(base) && DANGER[verbClass] > DANGER[found.class]))
      found = { word: base, class: verbClass };
  }
  return found && { class: found.class, source: `verb "${found.word}" ${where}` };
}

function executeNounIn(words: string[]): Reading | undefined {
  const noun = words.find((word) => EXECUTE_NOUNS.has(word));
  return noun === undefined ? undefined : { class: 'execute', source: `noun "${noun}" in the name` };
}

function readHints(annotations: unknown): Hints {
  if (typeof annotations !== 'object' || annotations === null) return {};
  const read = (key: keyof Hints) => {
    const value: unknown = (annotations as Record<string, unknown>)[key];
    return typeof value === 'boolean' ? value : undefined;
  };
  return {
    readOnlyHint: read('readOnlyHint'),
    destructiveHint: read('destructiveHint'),
    idempotentHint: read('idempotentHint'),
    openWorldHint: read('openWorldHint'),
  };
}

function boundedText(value: unknown, maxChars: number, what: string, cuts: string[]): string {
  if (typeof value !== 'string') return '';
  if (value.length <= maxChars) return value;
  cuts.push(`${what} is ${value.length} characters long; only the first ${maxChars} were read`);
  return value.slice(0, maxChars);
}

/** `free-form argument "sql"`, `free-form arguments "command", "subCommand"` */
function describeArguments(names: string[]): string {
  const shown = names
    .slice(0, 3)
    .map((name) => JSON.stringify(name.slice(0, 40)))
    .join(', ');
  const more = names.length > 3 ? ` and ${names.length - 3} more` : '';
  return `free-form argument${names.length === 1 ? '' : 's'} ${shown}${more}`;
}
