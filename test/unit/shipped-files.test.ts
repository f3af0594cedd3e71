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
    const document = parse(readFileSync(join(PROJECT_ROOT, 'examples', file), 'utf8')) as { grants?: { token?: string }[]; admins?: { token?: string }[] };
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
    for (const file of files) assert.ok(validate(parse(readFileSync(join(PROJECT_ROOT, file), 'utf8'))), `${file}: ${ajv.errorsText(validate.errors)}`);
  };
  check('policy.schema.json', policies.map((f) => join('policies', f)));
  check('config.schema.json', examples.map((f) => join('examples', f)));
});

for (const [name, schema] of Object.entries(jsonSchemas())) {
  test(`schema/${name} matches the zod schema (run \`npm run schemas\` after changing it)`, () => {
    assert.equal(readFileSync(join(PROJECT_ROOT, 'schema', name), 'utf8'), renderSchema(schema));
  });
}

test("every error code is listed in the README's error table", () => {
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('## Errors'), readme.indexOf('## ', readme.indexOf('## Errors') + 3));
  for (const code of Object.values(ErrorCode)) assert.ok(table.includes(`\`${code}\``), `${code} is missing from README.md's error table`);
});
