import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { PROJECT_ROOT } from '../support/run-cli.js';

const run = promisify(execFile);
const SUITE = join(PROJECT_ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

interface Check {
  id: string;
  status: string;
  errorMessage?: string;
  details?: { hostHeader?: string; statusCode?: number };
}

let gateway: RunningGateway;
let output: string;

before(async () => {
  // The scenario sends no token, so the gateway has no grants (loopback only), in front of an upstream that allows every tool.
  gateway = await startGateway({
    config: [
      'servers:',
      '  fx:',
      `    command: ${process.execPath}`,
      `    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]`,
      '    policy: fx.json',
      '',
    ].join('\n'),
    files: { 'fx.json': JSON.stringify({ version: '1', default: 'allow' }) },
  });
  output = mkdtempSync(join(tmpdir(), 'airlock-conformance-'));
});
after(async () => {
  await gateway?.stop();
  rmSync(output, { recursive: true, force: true });
});

test('the official MCP conformance scenario dns-rebinding-protection passes: a foreign Host and Origin get a 4xx, the local ones a 2xx', async () => {
  // The suite's runner needs Node 22 (it imports fs.globSync); scripts/node22.mjs finds or fetches one. Airlock itself runs on this Node.
  const node22 = (await run(process.execPath, [join(PROJECT_ROOT, 'scripts/node22.mjs')], { encoding: 'utf8' })).stdout.trim();
  const args = [SUITE, 'server', '--url', `${gateway.url}/mcp/fx`, '--scenario', 'dns-rebinding-protection', '-o', output];
  const { stdout } = await run(node22, args, { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } }).catch(
    (err: { stdout?: string; stderr?: string; code?: number }) => {
      assert.fail(`the conformance run exited ${err.code}:\n${err.stdout}\n${err.stderr}`);
    },
  );

  const summary = /^Passed: (\d+)\/(\d+), (\d+) failed/m.exec(stdout);
  assert.ok(summary, `no summary line in:\n${stdout}`);
  const [passed, total, failed] = summary.slice(1).map(Number) as [number, number, number];
  assert.ok(total > 0, 'the scenario ran checks');
  assert.deepEqual({ passed, failed }, { passed: total, failed: 0 }, stdout);

  const [results] = readdirSync(output);
  const checks = JSON.parse(readFileSync(join(output, results!, 'checks.json'), 'utf8')) as Check[];
  const byId = new Map(checks.map((c) => [c.id, c]));
  const rejected = byId.get('localhost-host-rebinding-rejected');
  const accepted = byId.get('localhost-host-valid-accepted');
  assert.equal(rejected?.status, 'SUCCESS', JSON.stringify(rejected));
  assert.equal(rejected.details?.hostHeader, 'evil.example.com');
  assert.equal(rejected.details.statusCode, 403);
  assert.equal(accepted?.status, 'SUCCESS', JSON.stringify(accepted));
  assert.equal(accepted.details?.hostHeader, new URL(gateway.url).host);
  assert.equal(accepted.details.statusCode, 200);
  assert.equal(checks.length, total, 'the summary counts the checks written out');
});
