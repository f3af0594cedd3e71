import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containsInvisible, escapeInvisible, escapeInvisibleInJson, escapeLine, hasInvisible } from '../../src/invisible-characters.js';

/** Reads escaped text back (the reverse of escapeInvisible), to show that no two texts are shown alike. */
function unescape(shown: string): string {
  return shown.replace(/(\\+)u(?:\{([0-9A-F]+)\}|([0-9A-F]{4}))?/g, (match, backslashes: string, astral?: string, bmp?: string) => {
    const half = '\\'.repeat(Math.floor(backslashes.length / 2));
    if (backslashes.length % 2 === 0) return `${half}${match.slice(backslashes.length)}`;
    const hex = astral ?? bmp;
    assert.ok(hex !== undefined, `an odd run of backslashes before u is an escape: ${JSON.stringify(match)}`);
    return `${half}${String.fromCodePoint(parseInt(hex, 16))}`;
  });
}

interface Case {
  name: string;
  text: string;
  shown: string;
}

const escaping: Case[] = [
  { name: 'right-to-left override (the reversed-text trick)', text: 'rm -rf /\u202E eludom_esu', shown: 'rm -rf /\\u202E eludom_esu' },
  {
    name: 'every bidi embedding and override U+202A–U+202E',
    text: '\u202A\u202B\u202C\u202D\u202E',
    shown: '\\u202A\\u202B\\u202C\\u202D\\u202E',
  },
  { name: 'bidi isolates U+2066–U+2069', text: 'a\u2066b\u2067c\u2068d\u2069', shown: 'a\\u2066b\\u2067c\\u2068d\\u2069' },
  { name: 'left-to-right, right-to-left and Arabic letter marks', text: '\u200E\u200F\u061C', shown: '\\u200E\\u200F\\u061C' },
  { name: 'zero-width space, non-joiner and joiner', text: 'ad\u200Bmin\u200C\u200D', shown: 'ad\\u200Bmin\\u200C\\u200D' },
  {
    name: 'word joiner and invisible operators U+2060–U+2064',
    text: '\u2060\u2061\u2062\u2063\u2064',
    shown: '\\u2060\\u2061\\u2062\\u2063\\u2064',
  },
  { name: 'byte order mark and soft hyphen', text: '\uFEFFpass\u00ADword', shown: '\\uFEFFpass\\u00ADword' },
  { name: 'other format characters (Cf): Arabic number sign, interlinear annotation', text: '\u0600x\uFFF9', shown: '\\u0600x\\uFFF9' },
  {
    name: 'C0 controls: NUL, escape, backspace, vertical tab, form feed',
    text: 'a\u0000b\u001B[2Jc\u0008\u000B\u000C',
    shown: 'a\\u0000b\\u001B[2Jc\\u0008\\u000B\\u000C',
  },
  { name: 'carriage return is escaped (it rewrites a terminal line)', text: 'safe\rrm -rf /', shown: 'safe\\u000Drm -rf /' },
  { name: 'DEL and C1 controls (CSI U+009B)', text: '\u007F\u0080\u009B\u009F', shown: '\\u007F\\u0080\\u009B\\u009F' },
  { name: 'line and paragraph separators', text: 'a\u2028b\u2029c', shown: 'a\\u2028b\\u2029c' },
  {
    name: 'variation selectors, in the BMP and beyond (emoji smuggling)',
    text: '😀\uFE0F\u{E0100}\u{E01EF}',
    shown: '😀\\uFE0F\\u{E0100}\\u{E01EF}',
  },
  {
    name: 'tag characters spell hidden ASCII after an emoji',
    text: '👍\u{E0001}\u{E0069}\u{E0067}\u{E007F}',
    shown: '👍\\u{E0001}\\u{E0069}\\u{E0067}\\u{E007F}',
  },
  {
    name: 'Hangul fillers and the Mongolian vowel separator (blank letters)',
    text: 'a\u3164b\u115Fc\u180Ed',
    shown: 'a\\u3164b\\u115Fc\\u180Ed',
  },
  { name: 'a lone high or low surrogate', text: 'a\uD800b\uDC00', shown: 'a\\uD800b\\uDC00' },
  { name: 'an unassigned code point', text: 'a\u0378b', shown: 'a\\u0378b' },
  { name: 'a string of nothing but controls', text: '\u202E\u200B\u0000\u2066\u{E0041}', shown: '\\u202E\\u200B\\u0000\\u2066\\u{E0041}' },
  { name: 'line feed and tab stay as they are', text: 'line 1\n\tline 2', shown: 'line 1\n\tline 2' },
  {
    name: 'letters, accents, CJK, Arabic and Hebrew letters, emoji (surrogate pairs) stay as they are',
    text: 'café 東京 مرحبا שלום 😀👩‍💻'.replace('\u200D', ''),
    shown: 'café 東京 مرحبا שלום 😀👩💻',
  },
  {
    name: 'a typed \\u202E is told apart from an escaped U+202E: its backslash is doubled',
    text: 'look: \\u202E',
    shown: 'look: \\\\u202E',
  },
  { name: 'a backslash before a real U+202E: both shown, the run doubled', text: '\\\u202E', shown: '\\\\\\u202E' },
  { name: 'two typed backslashes and u', text: '\\\\u0041', shown: '\\\\\\\\u0041' },
  {
    name: 'backslashes before anything but u stay single (Windows paths, regexes)',
    text: 'C:\\Windows\\System32 \\d+\\.txt',
    shown: 'C:\\Windows\\System32 \\d+\\.txt',
  },
  { name: 'an empty string', text: '', shown: '' },
];

for (const c of escaping) {
  test(`escapeInvisible: ${c.name}`, () => {
    const shown = escapeInvisible(c.text);
    assert.equal(shown, c.shown);
    assert.equal(hasInvisible(shown), false, 'nothing invisible is left');
    assert.equal(unescape(shown), c.text, 'the shown text reads back to the text, and to no other');
  });
}

test('escapeInvisible: an already escaped \\u202E and a real U+202E never look alike', () => {
  const typed = escapeInvisible('\\u202E');
  const real = escapeInvisible('\u202E');
  assert.notEqual(typed, real);
  assert.equal(real, '\\u202E');
  assert.equal(escapeInvisible('\\\u202E'), '\\\\\\u202E', 'and neither does a backslash before a real one');
  assert.notEqual(escapeInvisible('\\\u202E'), escapeInvisible('\\\\u202E'));
});

test('escapeInvisible: a very long string (200,000 characters) is escaped whole, and reads back', () => {
  const unit = `${'a'.repeat(97)}\u202E\\u`;
  const text = unit.repeat(2_000);
  const shown = escapeInvisible(text);
  assert.equal(shown.length, text.length + 2_000 * (5 + 1));
  assert.equal(hasInvisible(shown), false);
  assert.equal(unescape(shown), text);
});

test('escapeInvisible: a run of 200,000 backslashes is one run: kept when no u follows, doubled when one does', () => {
  const run = '\\'.repeat(200_000);
  assert.equal(escapeInvisible(`${run}x`), `${run}x`);
  assert.equal(escapeInvisible(`${run}u`), `${run}${run}u`);
  assert.equal(escapeInvisible(`${run}\u202E`), `${run}${run}\\u202E`);
});

test('escapeInvisible: 2,000 random strings of backslashes, u, hex digits and invisible characters each read back to themselves', () => {
  const alphabet = ['\\', 'u', '2', '0', 'E', 'F', '{', '}', 'x', '\u202E', '\u200B', '\u{E0041}', '\uD800', '\n', '\r', '😀'];
  let seed = 42;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const seen = new Map<string, string>();
  for (let i = 0; i < 2_000; i++) {
    const text = Array.from({ length: 1 + Math.floor(random() * 12) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    const shown = escapeInvisible(text);
    assert.equal(hasInvisible(shown), false, JSON.stringify(text));
    assert.equal(unescape(shown), text, JSON.stringify(text));
    const earlier = seen.get(shown);
    assert.ok(
      earlier === undefined || earlier === text,
      `${JSON.stringify(earlier)} and ${JSON.stringify(text)} are both shown as ${shown}`,
    );
    seen.set(shown, text);
  }
});

const inJson: { name: string; value: unknown; shown: string }[] = [
  { name: "a real U+202E becomes JSON's own \\u202E escape", value: { cmd: 'rm\u202Efdp.exe' }, shown: '{"cmd":"rm\\u202Efdp.exe"}' },
  { name: "a typed \\u202E is JSON's \\\\u202E already, and left so", value: { cmd: 'rm\\u202E' }, shown: '{"cmd":"rm\\\\u202E"}' },
  { name: 'keys are escaped too', value: { ['pa\u200Bth']: '/etc' }, shown: '{"pa\\u200Bth":"/etc"}' },
  {
    name: "C0 controls keep JSON.stringify's own escapes, C1 and separators get ours",
    value: ['\u001B', '\r', '\u009B', '\u2028'],
    shown: '["\\u001b","\\r","\\u009B","\\u2028"]',
  },
  { name: "lone surrogates keep JSON.stringify's escape", value: ['\uD800'], shown: '["\\ud800"]' },
  { name: 'tag characters beyond the BMP', value: ['\u{E0041}'], shown: '["\\u{E0041}"]' },
];

for (const c of inJson) {
  test(`escapeInvisibleInJson: ${c.name}`, () => {
    const shown = escapeInvisibleInJson(JSON.stringify(c.value));
    assert.equal(shown, c.shown);
    assert.equal(hasInvisible(shown), false);
  });
}

test('escapeInvisibleInJson: within the BMP the escaped JSON still parses to the same value', () => {
  const value = { ['k\u202E']: ['\u200B', '\uFEFF\u00AD', 'a\u2066b', '\u009B'] };
  assert.deepEqual(JSON.parse(escapeInvisibleInJson(JSON.stringify(value, null, 2))), value);
});

const containing: { name: string; value: unknown; expected: boolean }[] = [
  { name: 'a plain object', value: { path: '/srv/a.txt', n: 3, ok: true, none: null }, expected: false },
  { name: 'a value deep in arrays and objects', value: { a: [{ b: ['x', 'y\u202E'] }] }, expected: true },
  { name: 'a key', value: { a: { ['b\u200B']: 1 } }, expected: true },
  { name: 'a bare string', value: '\u2066', expected: true },
  { name: 'numbers and booleans never do', value: [1, 2.5, false], expected: false },
  { name: 'a line feed and a tab do not count', value: { text: 'a\n\tb' }, expected: false },
];

for (const c of containing) {
  test(`containsInvisible: ${c.name}`, () => assert.equal(containsInvisible(c.value), c.expected));
}

test('escapeLine: a line feed and a tab are escaped too, so the text stays on one line; the rest as escapeInvisible, and it reads back', () => {
  assert.equal(escapeLine('read_file\n  approve: x\tz'), 'read_file\\u000A  approve: x\\u0009z');
  assert.equal(escapeLine('\\\n'), '\\\\\\u000A', 'a backslash before a line feed cannot pass for an escaped one');
  assert.notEqual(escapeLine('\\u000A'), escapeLine('\n'));
  const alphabet = ['\\', 'u', '0', 'A', '\n', '\t', '\r', '\u202E', 'x'];
  let seed = 7;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 2_000; i++) {
    const text = Array.from({ length: 1 + Math.floor(random() * 10) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    const shown = escapeLine(text);
    assert.ok(!/[\n\t]/.test(shown) && !hasInvisible(shown), JSON.stringify(text));
    assert.equal(unescape(shown), text, JSON.stringify(text));
  }
});
