import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import { ErrorCode } from '../../src/errors.js';
import { loadPolicyFile } from '../../src/policy/index.js';
import { jsonSchemas, renderSchema } from '../../scripts/json-schemas.js';
import { PROJECT_ROOT } from '../support/run-cli.js';

const policies = readdirSync(join(PROJECT_ROOT, 'policies'));
const examples = readdirSync(join(PROJECT_ROOT, 'examples')).filter((f) => /\.(ya?ml|json)$/.test(f));
/** The variables examples/docker.yaml needs, which docker-compose.yml insists on. */
const EXAMPLE_ENV = { AIRLOCK_TOKEN: 'agent-token', AIRLOCK_ADMIN_TOKEN: 'admin-token' };

for (const file of policies) {
  test(`shipped policy policies/${file} loads through the real parser`, () => {
    loadPolicyFile(join(PROJECT_ROOT, 'policies', file));
  });
}

for (const file of examples) {
  test(`example config examples/${file} loads, with every policy it references`, () => {
    const config = loadConfig(join(PROJECT_ROOT, 'examples', file), EXAMPLE_ENV);
    assert.ok(Object.keys(config.servers).length > 0);
    for (const server of Object.values(config.servers)) loadPolicyFile(server.policy);
  });
}

test('no example ships a token everyone knows: each grant or admin token is an environment variable without a default, and `npm start` has no admin but the local one', () => {
  for (const file of examples) {
    const document = parse(readFileSync(join(PROJECT_ROOT, 'examples', file), 'utf8')) as {
      grants?: { token?: string }[];
      admins?: { token?: string }[];
    };
    for (const entry of [...(document.grants ?? []), ...(document.admins ?? [])]) {
      if (entry.token !== undefined) assert.match(entry.token, /^\$\{[A-Z0-9_]+\}$/, `examples/${file}: ${entry.token}`);
    }
  }
  assert.equal(loadConfig(join(PROJECT_ROOT, 'examples', 'airlock.yaml'), {}).admins, undefined);
});

test('the seed policy is shipped exactly as PolicyLayer wrote it', () => {
  assert.equal(
    readFileSync(join(PROJECT_ROOT, 'policies', 'aws-support.json'), 'utf8').trim(),
    '{"version":"1","default":"deny","tools":{"start_dicom_export_job":{"limits":[{"counter":"start_dicom_export_job_rate","window":"minute","max":10,"scope":"grant"}]}}}',
  );
});

test('editors validating with the published JSON Schemas accept every shipped file', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const check = (schemaFile: string, files: string[]) => {
    const validate = ajv.compile(JSON.parse(readFileSync(join(PROJECT_ROOT, 'schema', schemaFile), 'utf8')) as object);
    for (const file of files)
      assert.ok(validate(parse(readFileSync(join(PROJECT_ROOT, file), 'utf8'))), `${file}: ${ajv.errorsText(validate.errors)}`);
  };
  check(
    'policy.schema.json',
    policies.map((f) => join('policies', f)),
  );
  check(
    'config.schema.json',
    examples.map((f) => join('examples', f)),
  );
});

for (const [name, schema] of Object.entries(jsonSchemas())) {
  test(`schema/${name} matches the zod schema (run \`npm run schemas\` after changing it)`, () => {
    assert.equal(readFileSync(join(PROJECT_ROOT, 'schema', name), 'utf8'), renderSchema(schema));
  });
}

/** The markdown of one page of docs/. */
function docsPage(name: string): string {
  return readFileSync(join(PROJECT_ROOT, 'docs', name), 'utf8');
}

/** A heading of a page and the text under it, up to the next heading of any level. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `no "${heading}" heading`);
  const next = markdown.indexOf('\n#', start + heading.length + 1);
  return markdown.slice(start, next < 0 ? undefined : next);
}

/**
 * Every key a JSON Schema lets a file hold, by its path: `listen.host`,
 * `servers.<name>.command` for a map's entries, `grants[].name` for a list's.
 */
function keyPaths(root: object): string[] {
  const paths = new Set<string>();
  const walk = (node: unknown, path: string): void => {
    if (node === null || typeof node !== 'object') return;
    const schema = node as {
      $ref?: string;
      properties?: Record<string, unknown>;
      additionalProperties?: unknown;
      items?: unknown;
      anyOf?: unknown[];
      oneOf?: unknown[];
      allOf?: unknown[];
    };
    if (schema.$ref?.startsWith('#/'))
      walk(
        schema.$ref
          .slice(2)
          .split('/')
          .reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], root),
        path,
      );
    for (const [key, child] of Object.entries(schema.properties ?? {})) {
      const at = path === '' ? key : `${path}.${key}`;
      paths.add(at);
      walk(child, at);
    }
    walk(schema.additionalProperties, `${path}.<name>`);
    walk(schema.items, `${path}[]`);
    for (const alternative of [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])]) walk(alternative, path);
  };
  walk(root, '');
  return [...paths];
}

test("every error code is listed in docs/http-api.md's error table", () => {
  const table = section(docsPage('http-api.md'), '## Error codes');
  for (const code of Object.values(ErrorCode))
    assert.ok(table.includes(`\`${code}\``), `${code} is missing from docs/http-api.md's "Error codes" table`);
});

test('every config key is documented in docs/configuration.md, by its full path', () => {
  const page = docsPage('configuration.md');
  const paths = keyPaths(jsonSchemas()['config.schema.json'] as object);
  assert.ok(paths.includes('servers.<name>.policy') && paths.includes('grants[].token'), 'the walk reaches map entries and list items');
  const missing = paths.filter((path) => !page.includes(`\`${path}\``));
  assert.deepEqual(missing, [], `config keys missing from docs/configuration.md (write each as \`path\`): ${missing.join(', ')}`);
});

test('every policy key is named in docs/policy.md', () => {
  const page = docsPage('policy.md');
  const names = new Set(
    keyPaths(jsonSchemas()['policy.schema.json'] as object).map((path) => path.split('.').at(-1)?.replace(/\[\]$/, '') ?? path),
  );
  const missing = [...names].filter((name) => !page.includes(`\`${name}\``));
  assert.deepEqual(missing, [], `policy keys missing from docs/policy.md: ${missing.join(', ')}`);
});
