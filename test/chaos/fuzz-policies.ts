import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { DocumentError } from '../../src/errors.js';
import { loadPolicyFile } from '../../src/policy/index.js';
import { PROJECT_ROOT } from '../support/run-cli.js';

/** The policy half of the fuzz: documents to load, and the check that a refusal names the file, a path and a problem. */

const SEED_POLICIES: unknown[] = [
  {
    version: '1',
    default: 'deny',
    hide: ['delete_account'],
    all_tools: { limits: [] },
    tools: {
      list_customers: {},
      start_dicom_export_job: {
        action: 'require_approval',
        reason: 'Starts a bulk export',
        limits: [{ counter: 'exports', window: 'minute', max: 10, scope: 'grant' }],
        approval: { timeout: '15m', approvers: ['U0123ABCD', 'S0456GROUP'], min_approvals: 1 },
      },
      create_refund: {
        require: [{ path: 'args.reason', op: 'exists' }],
        deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }],
        approve_if: [
          { path: 'args.amount', op: 'gt', value: 100 },
          { path: 'args.note', op: 'regex', value: '^urgent' },
        ],
        schema: { type: 'object', properties: { currency: { enum: ['usd', 'eur'] } } },
        rate_limit: { max: 10, window: 60 },
      },
      'delete_*': { action: 'deny', reason: 'Agents may not delete' },
    },
    risk: { read: 'allow', write: 'require_approval', destructive: 'deny' },
    on_tool_change: 'deny',
  },
  ...readdirSync(join(PROJECT_ROOT, 'policies')).map(
    (name) => parseYaml(readFileSync(join(PROJECT_ROOT, 'policies', name), 'utf8')) as unknown,
  ),
];

type Mutation = { at: number; op: 'set' | 'delete' | 'rename' | 'wrap' | 'stringify'; value: unknown };

/** Every [parent, key] in a document, depth first. */
function slots(doc: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []): typeof out {
  const children: [string | number, unknown][] = Array.isArray(doc)
    ? doc.map((v, i) => [i, v])
    : doc !== null && typeof doc === 'object'
      ? Object.entries(doc)
      : [];
  for (const [key, value] of children) {
    out.push([doc as Record<string, unknown> | unknown[], key]);
    slots(value, out);
  }
  return out;
}

function mutate(seed: unknown, mutations: Mutation[]): unknown {
  const doc = structuredClone(seed);
  for (const m of mutations) {
    const all = slots(doc);
    if (all.length === 0) return m.value;
    const [parent, key] = all[m.at % all.length]!;
    const holder = parent as Record<string | number, unknown>;
    if (m.op === 'set') holder[key] = m.value;
    else if (m.op === 'wrap') holder[key] = [holder[key]];
    else if (m.op === 'stringify') holder[key] = JSON.stringify(holder[key]) ?? 'undefined';
    else if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else if (m.op === 'delete') delete holder[key];
    else {
      const value = holder[key];
      delete holder[key];
      holder[typeof m.value === 'string' ? m.value : (JSON.stringify(m.value) ?? 'x')] = value;
    }
  }
  return doc;
}

const mutation = fc.record({
  at: fc.nat(),
  op: fc.constantFrom<Mutation['op']>('set', 'set', 'delete', 'rename', 'wrap', 'stringify'),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom('deny', 'allow', 'require_approval', '*', '(a+)+$', '15m', '-1', 0, -1, 1e308, '', 'version', 'tools'),
  ),
});
/** Policy documents as an editor might leave them: mutated good ones (JSON or YAML), random JSON, bytes, and good ones cut short or with one character changed. `seeds` are added to the shipped ones. */
export const policyText = (seeds: unknown[] = []) => {
  const all = [...seeds, ...SEED_POLICIES];
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record({ seed: fc.nat(), mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }), yaml: fc.boolean() })
        .map(({ seed, mutations, yaml }) => {
          const doc = mutate(all[seed % all.length], mutations);
          return { text: yaml ? toYaml(doc) : JSON.stringify(doc, null, 2), ext: yaml ? '.yaml' : '.json' };
        }),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ doc: fc.jsonValue({ maxDepth: 4 }), ext: fc.constantFrom('.json', '.yaml', '.yml') })
        .map(({ doc, ext }) => ({ text: JSON.stringify(doc), ext })),
    },
    {
      weight: 1,
      arbitrary: fc.record({ text: fc.string({ unit: 'binary', maxLength: 400 }), ext: fc.constantFrom('.json', '.yaml', '.yml') }),
    },
    // A good document cut short or with one character changed, as a half-saved edit would be.
    {
      weight: 1,
      arbitrary: fc
        .record({ seed: fc.nat(), cut: fc.nat(), char: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), yaml: fc.boolean() })
        .map(({ seed, cut, char, yaml }) => {
          const text = yaml ? toYaml(all[seed % all.length]) : JSON.stringify(all[seed % all.length], null, 2);
          const at = cut % text.length;
          return {
            text: cut % 2 === 0 ? text.slice(0, at) : `${text.slice(0, at)}${char}${text.slice(at + 1)}`,
            ext: yaml ? '.yaml' : '.json',
          };
        }),
    },
  );
};

let written = 0;
export function writePolicy(dir: string, text: string, ext: string): string {
  const file = join(dir, `policy-${++written}${ext}`);
  writeFileSync(file, text);
  return file;
}

/** Loads a policy file: undefined when it is valid, else its DocumentError, checked for naming the file, a path and a problem. */
export function checkPolicy(dir: string, text: string, ext: string): DocumentError | undefined {
  const file = writePolicy(dir, text, ext);
  try {
    loadPolicyFile(file);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof DocumentError, `not a DocumentError but ${(err as Error)?.stack ?? String(err)}`);
    assert.ok(err.problems.length > 0, 'a DocumentError lists at least one problem');
    for (const problem of err.problems) {
      assert.equal(problem.file, file, `the problem names the file: ${JSON.stringify(problem)}`);
      assert.equal(typeof problem.path, 'string');
      assert.ok(problem.message.trim() !== '', `the problem says what is wrong: ${JSON.stringify(problem)}`);
    }
    assert.ok(err.message.includes(file));
    return err;
  } finally {
    rmSync(file, { force: true });
  }
}
