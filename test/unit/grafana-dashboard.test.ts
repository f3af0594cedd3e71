import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GatewayMetrics } from '../../src/metrics/index.js';
import { PROJECT_ROOT } from '../support/run-cli.js';

interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[];
}

const dashboard = JSON.parse(readFileSync(join(PROJECT_ROOT, 'examples/grafana/airlock-dashboard.json'), 'utf8')) as Dashboard;
const expressions = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));

test('every metric the Grafana dashboard queries is one the gateway exports', async () => {
  const exported = new Set((await new GatewayMetrics({ version: 'test' }).registry.getMetricsAsJSON()).map((m) => m.name));
  for (const { panel, expr } of expressions) {
    const names = [...expr.matchAll(/\b((?:airlock|nodejs|process)_[a-z_]+)\b/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ''));
    assert.ok(names.length > 0, `${panel}: ${expr} queries no metric`);
    for (const name of names) assert.ok(exported.has(name), `${panel}: ${name} is not exported`);
  }
});

test('every airlock_ metric has a panel on the dashboard', async () => {
  const queried = expressions.map((e) => e.expr).join('\n');
  const ours = (await new GatewayMetrics({ version: 'test' }).registry.getMetricsAsJSON())
    .map((m) => m.name)
    .filter((n) => n.startsWith('airlock_'));
  for (const name of ours) assert.ok(queried.includes(name), `${name} has no panel`);
});
