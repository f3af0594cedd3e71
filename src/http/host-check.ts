import { HOST_PATTERN } from '../config/index.js';

/**
 * DNS rebinding: a web page the user opens points a name it controls
 * (evil.example.com) at 127.0.0.1 once loaded, and can then call Airlock as
 * if it were its own site, with no CORS check in the way. The browser still
 * names the page's site in `Host` (and in `Origin`, sent on every
 * cross-origin and every non-GET request), so a request whose Host or
 * Origin does not name Airlock is refused. A name is any port of
 * localhost, 127.0.0.1 or [::1] (a local load balancer or tunnel may sit in
 * front), of the listener's own address and of `public_url`'s host, and
 * each `listen.allowed_hosts` entry (host:port entries for that port only).
 */
export type HostCheck = (host: HeaderValue, origin: HeaderValue) => HostVerdict;

/** As Node gives a header: absent, once, or every value when it came more than once (`req.headersDistinct`). */
export type HeaderValue = string | readonly string[] | undefined;

export type RefusedHeader = 'host' | 'origin';

/** `header` is the refused header as it may be logged and audited (`Host "evil.example.com"`, cut at 100 characters). */
export type HostVerdict = { ok: true } | { ok: false; kind: RefusedHeader; header: string; message: string };

export interface HostCheckOptions {
  /** The listener's address (`listen.host`, `metrics.listen.host`). */
  listenHost: string;
  publicUrl?: string | undefined;
  allowedHosts?: readonly string[] | undefined;
}

/** Always names of a gateway, at any port. */
const LOCAL_NAMES = ['localhost', '127.0.0.1', '[::1]'];
/** Addresses that mean "every interface": no browser reaches a gateway by them as a name of its own. */
const WILDCARDS = new Set(['0.0.0.0', '[::]', '']);
/** Header values echoed in a refusal, a log line or an audit event are cut here: whoever sends them chooses their length. */
const ECHO_MAX = 100;

const WHY = 'DNS rebinding protection';

/** A `listen.host` only this machine can reach: there the Host check is on by default, and grants may be left out. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * The check of one listener's requests, or undefined when its Host headers
 * go unchecked: a listener that is not loopback has names nobody told
 * Airlock (a load balancer's, a pod's IP) until `public_url` or
 * `listen.allowed_hosts` says which.
 */
export function hostCheck(options: HostCheckOptions): HostCheck | undefined {
  const allowed = options.allowedHosts ?? [];
  if (!isLoopbackHost(options.listenHost) && options.publicUrl === undefined && allowed.length === 0) return undefined;
  const anyPort = new Set(LOCAL_NAMES);
  const listen = parseHost(options.listenHost.includes(':') ? `[${options.listenHost}]` : options.listenHost);
  if (listen && !WILDCARDS.has(listen.name)) anyPort.add(listen.name);
  if (options.publicUrl !== undefined) anyPort.add(withoutTrailingDot(new URL(options.publicUrl).hostname));
  const ports = new Map<string, Set<number>>();
  for (const entry of allowed) {
    const parsed = parseHost(entry);
    if (!parsed) throw new Error(`listen.allowed_hosts: ${JSON.stringify(entry)} is not a host (the config schema should have refused it)`);
    if (parsed.port === undefined) anyPort.add(parsed.name);
    else ports.set(parsed.name, (ports.get(parsed.name) ?? new Set()).add(parsed.port));
  }
  const isName = (host: { name: string; port?: number }) =>
    anyPort.has(host.name) || (host.port !== undefined && ports.get(host.name)?.has(host.port) === true);
  // An Origin is matched by its host name alone, whatever its port.
  const isOriginName = (name: string) => anyPort.has(name) || ports.has(name);

  return (hostHeader, originHeader) => {
    const hosts = values(hostHeader);
    if (hosts.length === 0)
      return refuse('host', 'no Host header', `the request has no Host header (${WHY}); send the name you reach Airlock at`);
    if (hosts.length > 1)
      return refuse('host', `${hosts.length} Host headers`, `the request has ${hosts.length} Host headers (${WHY}); send one`);
    const host = hosts[0]!;
    const parsed = parseHost(host);
    if (!parsed || !isName(parsed)) {
      return refuse(
        'host',
        `Host ${quoted(host)}`,
        `Host ${quoted(host)} is not one of Airlock's names (${WHY}); if it is a name for this gateway, add it to listen.allowed_hosts`,
      );
    }
    const origins = values(originHeader);
    if (origins.length === 0) return { ok: true };
    if (origins.length > 1)
      return refuse('origin', `${origins.length} Origin headers`, `the request has ${origins.length} Origin headers (${WHY}); send one`);
    const origin = origins[0]!;
    const name = originName(origin);
    if (name !== undefined && isOriginName(name)) return { ok: true };
    const what = origin === 'null' ? 'Origin "null" (a sandboxed page, a local file, a redirect)' : `Origin ${quoted(origin)}`;
    return refuse(
      'origin',
      `Origin ${quoted(origin)}`,
      `${what} is not one of Airlock's names (${WHY}: a page of another site may not call Airlock); if it is a name for this gateway, add its host to listen.allowed_hosts`,
    );
  };
}

/** `text` cut at 100 characters, with a note of its length, for a log line or an audit event. */
export function cut(text: string): string {
  return text.length <= ECHO_MAX ? text : `${text.slice(0, ECHO_MAX)}${cutNote(text)}`;
}

/** A header value in quotes, cut as `cut` does. */
function quoted(text: string): string {
  return text.length <= ECHO_MAX ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, ECHO_MAX))}${cutNote(text)}`;
}

function cutNote(text: string): string {
  return `… (${text.length} characters, cut)`;
}

function refuse(kind: RefusedHeader, header: string, reason: string): HostVerdict {
  return { ok: false, kind, header, message: `Forbidden: ${reason}` };
}

function values(header: HeaderValue): readonly string[] {
  return header === undefined ? [] : typeof header === 'string' ? [header] : header;
}

/**
 * A host name as browsers write it (lower case, IPv4 in dotted decimal,
 * IPv6 compressed in brackets, no trailing dot), and its port when one is
 * written. Only the strict Host grammar is read: `localhost:80@evil.com`
 * or `evil.com/x` is no host at all.
 */
function parseHost(text: string): { name: string; port?: number } | undefined {
  const match = HOST_PATTERN.exec(text);
  if (!match) return undefined;
  let hostname: string;
  try {
    hostname = new URL(`http://${match[1]}`).hostname;
  } catch {
    return undefined;
  }
  return { name: withoutTrailingDot(hostname), ...(match[2] !== undefined && { port: Number(match[2]) }) };
}

/** The host name of an Origin header, or undefined when it has none (`null`, unparsable, user info that could hide the real host). */
function originName(origin: string): string | undefined {
  if (!URL.canParse(origin)) return undefined;
  const url = new URL(origin);
  if (url.hostname === '' || url.username !== '' || url.password !== '') return undefined;
  return withoutTrailingDot(url.hostname);
}

function withoutTrailingDot(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name;
}
