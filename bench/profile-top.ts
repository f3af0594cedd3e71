/**
 * The top of a V8 CPU profile (`node --cpu-prof`, e.g. BENCH_PROFILE_DIR of
 * bench:proxy): self time by function, and by where the code lives (a
 * package under node_modules, a folder of src/, Node's own internals), as a
 * share of the busy (non-idle) time, so two hops' profiles compare.
 *
 * `node --import tsx bench/profile-top.ts FILE.cpuprofile [N]`
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileTop {
  busyMs: number;
  functions: { name: string; ms: number; share: number }[];
  places: { name: string; ms: number; share: number }[];
}

const NOT_BUSY = new Set(['(idle)', '(program)', '(garbage collector)']);

export function profileTop(profile: CpuProfile, count = 25): ProfileTop {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const functions = new Map<string, number>();
  const places = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const name = frame.functionName || '(anonymous)';
    // GC is work the hop causes, so it counts as busy; idle and "program" (the loop waiting) do not.
    if (NOT_BUSY.has(name) && name !== '(garbage collector)') continue;
    busy += us;
    const at = frame.url === '' ? name : `${name} ${shorten(frame.url)}:${frame.lineNumber + 1}`;
    functions.set(at, (functions.get(at) ?? 0) + us);
    const place = placeOf(frame.url, name);
    places.set(place, (places.get(place) ?? 0) + us);
  }
  const top = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / busy }));
  return { busyMs: busy / 1000, functions: top(functions), places: top(places) };
}

function placeOf(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg !== undefined) return pkg;
  const own = /\/(src|dist|bench)\/([^/]+)/.exec(url);
  return own ? `${own[1]}/${own[2]}` : shorten(url);
}

function shorten(url: string): string {
  return url.replace(/^file:\/\//, '').replace(/.*node_modules\//, '');
}

export function formatProfileTop(top: ProfileTop): string[] {
  const line = (x: { name: string; ms: number; share: number }) =>
    `  ${(x.share * 100).toFixed(1).padStart(5)} %  ${x.ms.toFixed(0).padStart(6)} ms  ${x.name}`;
  return [
    `busy ${top.busyMs.toFixed(0)} ms (garbage collection included, idle left out)`,
    'by place:',
    ...top.places.map(line),
    'by function (self time):',
    ...top.functions.map(line),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, n] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: profile-top.ts FILE.cpuprofile [N]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  for (const line of formatProfileTop(profileTop(profile, Number(n ?? 25)))) console.log(line);
}
