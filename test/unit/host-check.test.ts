import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostCheck, isLoopbackHost, type HostCheck } from '../../src/http/index.js';

type Case = {
  name: string;
  host: string | string[] | undefined;
  origin?: string | string[];
  refused?: 'host' | 'origin';
  message?: RegExp;
};

const LOOPBACK = hostCheck({
  listenHost: '127.0.0.1',
  publicUrl: 'https://Airlock.Example.com.',
  allowedHosts: ['gw.internal', 'GW2.internal:8443', '[fd00::7]:9000', '10.0.0.5'],
})!;

const cases: Case[] = [
  // The usual local names, at any port.
  { name: '127.0.0.1 with a port', host: '127.0.0.1:8080' },
  { name: '127.0.0.1 without a port', host: '127.0.0.1' },
  { name: 'localhost with a port', host: 'localhost:8080' },
  { name: 'localhost at another port (a local proxy in front)', host: 'localhost:3000' },
  { name: '[::1] with a port', host: '[::1]:8080' },
  { name: '[::1] written out in full', host: '[0:0:0:0:0:0:0:1]:8080' },
  { name: 'case does not matter', host: 'LocalHost:8080' },
  { name: 'a trailing dot is the same name', host: 'localhost.:8080' },
  { name: 'a trailing dot after an IPv4 address', host: '127.0.0.1.:8080' },
  { name: '127.1, as browsers write 127.0.0.1 once parsed', host: '127.1:8080' },
  // public_url and listen.allowed_hosts.
  { name: "public_url's host, any port, any case", host: 'airlock.example.COM:443' },
  { name: "public_url's host without a port", host: 'airlock.example.com' },
  { name: 'an allowed host without a port is good at any port', host: 'gw.internal:1234' },
  { name: 'an allowed host:port at its port', host: 'gw2.internal:8443' },
  { name: 'an allowed host:port at another port', host: 'gw2.internal:8080', refused: 'host' },
  { name: 'an allowed host:port without a port', host: 'gw2.internal', refused: 'host' },
  { name: 'an allowed IPv6 host:port', host: '[fd00:0::7]:9000' },
  { name: 'an allowed IPv6 host:port at another port', host: '[fd00::7]:9001', refused: 'host' },
  { name: 'an allowed IPv4 address', host: '10.0.0.5:8080' },
  // What a rebinding page, or a hostile client, sends.
  {
    name: 'a foreign name',
    host: 'evil.example.com',
    message:
      /^Forbidden: Host "evil\.example\.com" is not one of Airlock's names \(DNS rebinding protection\); if it is a name for this gateway, add it to listen\.allowed_hosts$/,
    refused: 'host',
  },
  { name: 'a foreign name at the gateway port', host: 'evil.example.com:8080', refused: 'host' },
  { name: 'a look-alike: localhost.evil.com', host: 'localhost.evil.com:8080', refused: 'host' },
  { name: 'a look-alike: 127.0.0.1.nip.io', host: '127.0.0.1.nip.io:8080', refused: 'host' },
  { name: 'a look-alike: 127.0.0.1.evil.com', host: '127.0.0.1.evil.com', refused: 'host' },
  { name: 'a look-alike: evil-localhost', host: 'evil-localhost', refused: 'host' },
  { name: 'a subdomain of an allowed host', host: 'x.gw.internal', refused: 'host' },
  { name: 'user info hiding the host: localhost:8080@evil.com', host: 'localhost:8080@evil.com', refused: 'host' },
  { name: 'user info the other way: evil.com@localhost', host: 'evil.com@localhost', refused: 'host' },
  { name: 'a path after the host', host: 'localhost/evil.com', refused: 'host' },
  { name: 'a backslash after the host', host: 'localhost\\evil.com', refused: 'host' },
  { name: 'a space inside', host: 'localhost evil.com', refused: 'host' },
  { name: 'two names joined by a comma', host: 'localhost,evil.com', refused: 'host' },
  { name: 'two trailing dots', host: 'localhost..', refused: 'host' },
  { name: 'an unbracketed IPv6 address', host: '::1', refused: 'host' },
  { name: 'a port that is not a number', host: 'localhost:http', refused: 'host' },
  { name: 'an empty Host', host: '', refused: 'host' },
  {
    name: 'no Host header (HTTP/1.0)',
    host: undefined,
    refused: 'host',
    message: /^Forbidden: the request has no Host header \(DNS rebinding protection\); send the name you reach Airlock at$/,
  },
  { name: 'two Host headers, both good', host: ['localhost:8080', '127.0.0.1:8080'], refused: 'host', message: /2 Host headers/ },
  { name: 'two Host headers, one foreign', host: ['localhost:8080', 'evil.example.com'], refused: 'host' },
  {
    name: 'a very long Host is echoed cut',
    host: `${'a'.repeat(5000)}.evil.com`,
    refused: 'host',
    message: /^Forbidden: Host "a{100}"… \(5009 characters, cut\) is not one of/,
  },
  // Origin: by host name, any port.
  { name: 'a local Origin', host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080' },
  { name: 'a local Origin at another port (an inspector page on localhost)', host: 'localhost:8080', origin: 'http://localhost:6274' },
  { name: 'an [::1] Origin', host: 'localhost:8080', origin: 'http://[::1]:6274' },
  { name: 'an https Origin of public_url', host: 'airlock.example.com', origin: 'https://airlock.example.com' },
  { name: 'an Origin of an allowed host:port, at any port', host: 'gw2.internal:8443', origin: 'https://gw2.internal:9999' },
  { name: 'an Origin in upper case with a trailing dot', host: 'localhost:8080', origin: 'HTTP://LOCALHOST.:8080' },
  {
    name: 'a foreign Origin with a good Host',
    host: '127.0.0.1:8080',
    origin: 'http://evil.example.com',
    refused: 'origin',
    message:
      /^Forbidden: Origin "http:\/\/evil\.example\.com" is not one of Airlock's names \(DNS rebinding protection: a page of another site may not call Airlock\); if it is a name for this gateway, add its host to listen\.allowed_hosts$/,
  },
  { name: 'a look-alike Origin', host: 'localhost:8080', origin: 'http://localhost.evil.com:8080', refused: 'origin' },
  {
    name: 'Origin null (a sandboxed page, a file)',
    host: 'localhost:8080',
    origin: 'null',
    refused: 'origin',
    message: /^Forbidden: Origin "null" \(a sandboxed page, a local file, a redirect\) is not one of/,
  },
  { name: 'an unparsable Origin', host: 'localhost:8080', origin: 'not a url', refused: 'origin' },
  { name: 'an Origin without a host', host: 'localhost:8080', origin: 'file://', refused: 'origin' },
  { name: 'an Origin with user info hiding the host', host: 'localhost:8080', origin: 'http://evil.com@localhost', refused: 'origin' },
  {
    name: 'two Origin headers',
    host: 'localhost:8080',
    origin: ['http://localhost', 'http://localhost'],
    refused: 'origin',
    message: /2 Origin headers/,
  },
  {
    name: 'a foreign Host and a foreign Origin: the Host is named',
    host: 'evil.example.com',
    origin: 'http://evil.example.com',
    refused: 'host',
  },
  {
    name: 'a very long Origin is echoed cut',
    host: 'localhost',
    origin: `http://${'b'.repeat(300)}.com`,
    refused: 'origin',
    message: /^Forbidden: Origin "http:\/\/b{93}"… \(311 characters, cut\)/,
  },
];

function verdictOf(check: HostCheck, c: Pick<Case, 'host' | 'origin'>) {
  return check(c.host, c.origin);
}

for (const c of cases) {
  test(`host check: ${c.name} is ${c.refused ? `refused (${c.refused})` : 'let through'}`, () => {
    const verdict = verdictOf(LOOPBACK, c);
    if (c.refused === undefined) return assert.deepEqual(verdict, { ok: true });
    assert.equal(verdict.ok, false, JSON.stringify(c));
    if (verdict.ok) return;
    assert.equal(verdict.kind, c.refused);
    assert.match(verdict.message, c.message ?? /^Forbidden: .*\(DNS rebinding protection/);
    assert.ok(verdict.message.length < 400, `the message stays short: ${verdict.message.length} characters`);
    assert.ok(verdict.header.length < 160, `the header as logged stays short: ${verdict.header}`);
  });
}

test('a loopback listener with nothing configured allows only the local names', () => {
  const check = hostCheck({ listenHost: '127.0.0.1' })!;
  assert.deepEqual(check('localhost:8080', undefined), { ok: true });
  assert.equal(check('airlock.example.com', undefined).ok, false);
});

test("the listener's own address is one of its names: 127.0.0.2, ::1, a host name", () => {
  assert.deepEqual(hostCheck({ listenHost: '127.0.0.2' })!('127.0.0.2:8080', 'http://127.0.0.2:8080'), { ok: true });
  assert.deepEqual(hostCheck({ listenHost: '::1' })!('[::1]:8080', undefined), { ok: true });
  assert.deepEqual(hostCheck({ listenHost: '10.1.2.3', publicUrl: 'https://a.example' })!('10.1.2.3:8080', undefined), { ok: true });
  assert.deepEqual(hostCheck({ listenHost: 'airlock.lan', allowedHosts: ['x.lan'] })!('airlock.lan:8080', undefined), { ok: true });
});

test('a wildcard listener (0.0.0.0, ::) does not make 0.0.0.0 a name', () => {
  for (const listenHost of ['0.0.0.0', '::']) {
    const check = hostCheck({ listenHost, allowedHosts: ['airlock'] })!;
    assert.deepEqual(check('airlock:8080', undefined), { ok: true });
    assert.deepEqual(check('localhost:8080', undefined), { ok: true });
    assert.equal(check('0.0.0.0:8080', undefined).ok, false);
    assert.equal(check('[::]:8080', undefined).ok, false);
  }
});

test('a listener that is not loopback checks Host only once public_url or listen.allowed_hosts names it', () => {
  assert.equal(hostCheck({ listenHost: '0.0.0.0' }), undefined);
  assert.equal(hostCheck({ listenHost: '10.1.2.3', allowedHosts: [] }), undefined);
  assert.equal(hostCheck({ listenHost: '0.0.0.0', publicUrl: 'https://airlock.example.com' })!('evil.example.com', undefined).ok, false);
  assert.equal(hostCheck({ listenHost: '0.0.0.0', allowedHosts: ['airlock'] })!('evil.example.com', undefined).ok, false);
});

const loopbackHosts: [string, boolean][] = [
  ['127.0.0.1', true],
  ['127.3.4.5', true],
  ['::1', true],
  ['localhost', true],
  ['0.0.0.0', false],
  ['::', false],
  ['10.0.0.1', false],
  ['127.0.0.1.nip.io', false],
  ['localhost.evil.com', false],
];
for (const [host, loopback] of loopbackHosts) {
  test(`listen.host ${host} is ${loopback ? '' : 'not '}loopback`, () => assert.equal(isLoopbackHost(host), loopback));
}
