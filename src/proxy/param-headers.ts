/**
 * `Mcp-Param-*` headers (MCP 2026-07-28, Streamable HTTP "Custom Headers",
 * SEP-2243): a tool's `inputSchema` may mark primitive arguments with
 * `x-mcp-header: Name`, and a `tools/call` over HTTP then mirrors each such
 * argument present in a header `Mcp-Param-Name`, so intermediaries can route
 * on it without parsing the body. The SDK keeps its helpers internal, so
 * Airlock has its own: `scanParamHeaders` checks a tool's declarations (a
 * client MUST drop a tool whose declarations break the rules),
 * `paramHeadersFor` builds the headers toward an upstream, and
 * `checkParamHeaders` validates what a downstream client sent.
 */

export const PARAM_HEADER_PREFIX = 'Mcp-Param-';
const DECLARATION_KEY = 'x-mcp-header';
/** RFC 9110 §5.6.2 `token`: no spaces, controls or delimiters. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PERMITTED_TYPES = new Set(['string', 'integer', 'boolean']);
/** Keywords under which a declaration is not statically reachable through `properties`, which makes the tool invalid. */
const UNREACHABLE_KEYWORDS = [
  'items',
  'prefixItems',
  'contains',
  'additionalProperties',
  'unevaluatedProperties',
  'unevaluatedItems',
  'propertyNames',
  'patternProperties',
  'dependentSchemas',
  'oneOf',
  'anyOf',
  'allOf',
  'not',
  'if',
  'then',
  'else',
  '$defs',
  'definitions',
] as const;
/** Of those, the ones whose value is a map of name → schema. */
const MAP_KEYWORDS = new Set(['patternProperties', 'dependentSchemas', '$defs', 'definitions']);
const SENTINEL_PREFIX = '=?base64?';
const SENTINEL_SUFFIX = '?=';
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;

/** One argument to mirror: where it is in `arguments`, and the header's name without the prefix. */
export interface ParamHeaderDeclaration {
  path: readonly string[];
  name: string;
  type: 'string' | 'integer' | 'boolean';
}

export type ParamHeaderScan = { valid: true; declarations: ParamHeaderDeclaration[] } | { valid: false; reason: string };

/** The `x-mcp-header` declarations of a tool's input schema, or why they make the tool invalid. */
export function scanParamHeaders(inputSchema: unknown): ParamHeaderScan {
  const declarations: ParamHeaderDeclaration[] = [];
  const seen = new Map<string, string>();
  const visit = (node: unknown, path: string[], reachable: boolean): string | undefined => {
    if (node === null || typeof node !== 'object') return undefined;
    const schema = node as Record<string, unknown>;
    if (DECLARATION_KEY in schema) {
      const where = path.length === 0 ? '<root>' : path.join('.');
      if (!reachable || path.length === 0) return `${where}: x-mcp-header is only allowed on properties reached through "properties" alone`;
      const name = schema[DECLARATION_KEY];
      if (typeof name !== 'string' || !TOKEN.test(name))
        return `${where}: x-mcp-header must be a header name token, got ${JSON.stringify(name)}`;
      const type = schema.type;
      if (typeof type !== 'string' || !PERMITTED_TYPES.has(type))
        return `${where}: x-mcp-header is only allowed on string, integer or boolean properties, got ${JSON.stringify(type ?? null)}`;
      const earlier = seen.get(name.toLowerCase());
      if (earlier !== undefined) return `x-mcp-header "${name}" is declared twice (also as "${earlier}"); names are case-insensitive`;
      seen.set(name.toLowerCase(), name);
      declarations.push({ path, name, type: type as ParamHeaderDeclaration['type'] });
    }
    const properties = schema.properties;
    if (properties !== null && typeof properties === 'object') {
      for (const [key, child] of Object.entries(properties)) {
        const fault = visit(child, [...path, key], reachable);
        if (fault !== undefined) return fault;
      }
    }
    for (const keyword of UNREACHABLE_KEYWORDS) {
      const sub = schema[keyword];
      if (sub === undefined) continue;
      const branches = Array.isArray(sub)
        ? sub
        : MAP_KEYWORDS.has(keyword) && sub !== null && typeof sub === 'object'
          ? Object.values(sub)
          : [sub];
      for (const branch of branches) {
        const fault = visit(branch, [...path, `<${keyword}>`], false);
        if (fault !== undefined) return fault;
      }
    }
    return undefined;
  };
  const reason = visit(inputSchema, [], true);
  return reason === undefined ? { valid: true, declarations } : { valid: false, reason };
}

/** The headers a `tools/call` with `args` must carry toward a 2026 server over HTTP. */
export function paramHeadersFor(declarations: readonly ParamHeaderDeclaration[], args: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const declaration of declarations) {
    const value = headerText(valueAt(args, declaration.path));
    if (value !== undefined) headers[`${PARAM_HEADER_PREFIX}${declaration.name}`] = encodeParamValue(value);
  }
  return headers;
}

/**
 * Whether the `Mcp-Param-*` headers of a `tools/call` agree with its
 * arguments (header names case-insensitive, values exact, integers
 * compared as numbers): `undefined` when they do, else what is wrong, for
 * a 400 with −32020 (HeaderMismatch). An argument that is absent or null
 * needs no header.
 */
export function checkParamHeaders(
  declarations: readonly ParamHeaderDeclaration[],
  args: unknown,
  header: (name: string) => string | undefined,
): { header: string; problem: string } | undefined {
  for (const declaration of declarations) {
    const name = `${PARAM_HEADER_PREFIX}${declaration.name}`;
    const raw = valueAt(args, declaration.path);
    const body = headerText(raw);
    if (body === undefined) continue;
    const where = declaration.path.join('.');
    const sent = header(name);
    if (sent === undefined) return { header: name, problem: `the arguments carry ${where} but the ${name} header is absent` };
    const decoded = decodeParamValue(sent.trim());
    if (decoded === undefined) return { header: name, problem: `the ${name} header is not valid Base64 inside =?base64?…?=` };
    const same =
      declaration.type === 'integer' && typeof raw === 'number' && DECIMAL.test(decoded) ? Number(decoded) === raw : decoded === body;
    if (!same)
      return {
        header: name,
        problem: `the ${name} header says ${JSON.stringify(decoded)} but the arguments carry ${where}=${JSON.stringify(raw)}`,
      };
  }
  return undefined;
}

/** A value as it is sent: plain when it is visible ASCII without edge spaces, else Base64 in the sentinel. */
export function encodeParamValue(value: string): string {
  return needsBase64(value) ? `${SENTINEL_PREFIX}${Buffer.from(value, 'utf8').toString('base64')}${SENTINEL_SUFFIX}` : value;
}

/** A header value as its sender meant it; `undefined` for a sentinel whose content is not canonical Base64 of UTF-8. */
export function decodeParamValue(value: string): string | undefined {
  if (!(value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX))) return value;
  const b64 = value.slice(SENTINEL_PREFIX.length, value.length - SENTINEL_SUFFIX.length);
  if (!CANONICAL_BASE64.test(b64)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}

function needsBase64(value: string): boolean {
  if (value.length === 0 || value !== value.trim()) return true;
  if (value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX)) return true;
  // Visible ASCII and tab only: anything else is not a safe HTTP field value.
  return !/^[\t\x20-\x7e]*$/.test(value);
}

/** The text of a primitive argument; `undefined` for one that is absent, null, not primitive or not a safe number. */
function headerText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' && Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value)))
    return String(value);
  return undefined;
}

function valueAt(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
