import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkParamHeaders, decodeParamValue, encodeParamValue, paramHeadersFor, scanParamHeaders } from '../../src/proxy/param-headers.js';

const str = (header: string) => ({ type: 'string', 'x-mcp-header': header });

const scans: { name: string; schema: unknown; valid: boolean; headers?: string[] }[] = [
  { name: 'no declarations', schema: { type: 'object', properties: { a: { type: 'string' } } }, valid: true, headers: [] },
  { name: 'a top-level string', schema: { type: 'object', properties: { region: str('Region') } }, valid: true, headers: ['Region'] },
  {
    name: 'nested through properties',
    schema: { type: 'object', properties: { where: { type: 'object', properties: { region: str('Region') } } } },
    valid: true,
    headers: ['Region'],
  },
  {
    name: 'integer and boolean',
    schema: { properties: { n: { type: 'integer', 'x-mcp-header': 'N' }, b: { type: 'boolean', 'x-mcp-header': 'B' } } },
    valid: true,
    headers: ['N', 'B'],
  },
  { name: 'on a number', schema: { properties: { n: { type: 'number', 'x-mcp-header': 'N' } } }, valid: false },
  { name: 'on an array', schema: { properties: { a: { type: 'array', 'x-mcp-header': 'A' } } }, valid: false },
  { name: 'under items', schema: { properties: { a: { type: 'array', items: str('A') } } }, valid: false },
  { name: 'under anyOf', schema: { anyOf: [{ properties: { a: str('A') } }] }, valid: false },
  { name: 'under $defs', schema: { $defs: { x: str('X') } }, valid: false },
  { name: 'on the root', schema: { type: 'string', 'x-mcp-header': 'Root' }, valid: false },
  { name: 'a name with a space', schema: { properties: { a: str('Bad Name') } }, valid: false },
  { name: 'an empty name', schema: { properties: { a: str('') } }, valid: false },
  { name: 'twice, differing in case', schema: { properties: { a: str('Region'), b: str('region') } }, valid: false },
];
for (const c of scans) {
  test(`scan: ${c.name} is ${c.valid ? 'valid' : 'invalid'}`, () => {
    const scan = scanParamHeaders(c.schema);
    assert.equal(scan.valid, c.valid, JSON.stringify(scan));
    if (scan.valid && c.headers)
      assert.deepEqual(
        scan.declarations.map((d) => d.name),
        c.headers,
      );
  });
}

const encodings: [string, string][] = [
  ['eu-1', 'eu-1'],
  ['', '=?base64??='],
  [' padded', `=?base64?${Buffer.from(' padded').toString('base64')}?=`],
  ['zürich', `=?base64?${Buffer.from('zürich').toString('base64')}?=`],
  ['line\nfeed', `=?base64?${Buffer.from('line\nfeed').toString('base64')}?=`],
  ['=?base64?abc?=', `=?base64?${Buffer.from('=?base64?abc?=').toString('base64')}?=`],
];
for (const [value, sent] of encodings) {
  test(`encode ${JSON.stringify(value)} as ${JSON.stringify(sent)}, and back`, () => {
    assert.equal(encodeParamValue(value), sent);
    assert.equal(decodeParamValue(sent), value);
  });
}

test('decode refuses a sentinel whose content is not canonical Base64 of UTF-8', () => {
  for (const bad of ['=?base64?a?=', '=?base64?ab!c?=', '=?base64?/w==?=']) assert.equal(decodeParamValue(bad), undefined, bad);
});

const declared = (() => {
  const scan = scanParamHeaders({
    properties: { region: str('Region'), n: { type: 'integer', 'x-mcp-header': 'N' }, b: { type: 'boolean', 'x-mcp-header': 'B' } },
  });
  assert.ok(scan.valid);
  return scan.declarations;
})();

test('headers are built for the arguments present, none for absent or null ones', () => {
  assert.deepEqual(paramHeadersFor(declared, { region: 'eu-1', n: 42, b: false }), {
    'Mcp-Param-Region': 'eu-1',
    'Mcp-Param-N': '42',
    'Mcp-Param-B': 'false',
  });
  assert.deepEqual(paramHeadersFor(declared, { region: null }), {});
  assert.deepEqual(paramHeadersFor(declared, undefined), {});
});

const checks: { name: string; args: unknown; headers: Record<string, string>; wrong?: RegExp }[] = [
  { name: 'matching headers pass', args: { region: 'eu-1', n: 42 }, headers: { 'mcp-param-region': 'eu-1', 'mcp-param-n': '42' } },
  { name: 'an integer compares as a number', args: { n: 42 }, headers: { 'mcp-param-n': '42.0' } },
  { name: 'surrounding spaces are trimmed', args: { region: 'eu-1' }, headers: { 'mcp-param-region': ' eu-1 ' } },
  { name: 'a Base64 value is decoded', args: { region: 'zürich' }, headers: { 'mcp-param-region': encodeParamValue('zürich') } },
  { name: 'an absent argument needs no header', args: {}, headers: {} },
  { name: 'a missing header is refused', args: { region: 'eu-1' }, headers: {}, wrong: /absent/ },
  { name: 'a different value is refused', args: { region: 'eu-1' }, headers: { 'mcp-param-region': 'us-1' }, wrong: /says "us-1"/ },
  { name: 'values are case-sensitive', args: { region: 'eu-1' }, headers: { 'mcp-param-region': 'EU-1' }, wrong: /says/ },
  {
    name: 'a broken sentinel is refused',
    args: { region: 'eu-1' },
    headers: { 'mcp-param-region': '=?base64?!!?=' },
    wrong: /not valid Base64/,
  },
  { name: 'a boolean compares as its text', args: { b: true }, headers: { 'mcp-param-b': 'True' }, wrong: /says/ },
];
for (const c of checks) {
  test(`check: ${c.name}`, () => {
    const problem = checkParamHeaders(declared, c.args, (name) => c.headers[name.toLowerCase()]);
    if (c.wrong === undefined) assert.equal(problem, undefined, problem?.problem);
    else assert.match(problem?.problem ?? '', c.wrong);
  });
}
