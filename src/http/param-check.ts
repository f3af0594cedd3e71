import { isHidden } from '../policy/index.js';
import { checkParamHeaders, Router, scanParamHeaders, type ParamHeaderScan, type SessionDeps, type SessionScope } from '../proxy/index.js';

/** The specification's HeaderMismatch: a header missing, or one that says other than the body. The SDK has no enum member for it. */
export const HEADER_MISMATCH = -32020;

/** Tool definitions are replaced, not changed, when a server's list changes: one scan per definition. */
const scans = new WeakMap<object, ParamHeaderScan>();

/**
 * What is wrong with the `Mcp-Param-*` headers of a 2026 `tools/call`, or
 * `undefined` when nothing is (or the call is not one to check). The SDK
 * checks them only for its McpServer, and a handler cannot answer 400, so
 * the route checks before dispatch, against the tool as the upstream
 * declared it. A tool the agent may not see (hidden, or unknown) is not
 * checked: the call is answered as for an unknown tool, and a 400 here would
 * tell the agent it exists.
 */
export function paramHeaderProblem(
  deps: SessionDeps,
  scope: SessionScope,
  body: unknown,
  header: (name: string) => string | undefined,
): string | undefined {
  const message = body as { method?: unknown; params?: { name?: unknown; arguments?: unknown } } | null | undefined;
  if (message?.method !== 'tools/call' || typeof message.params?.name !== 'string') return undefined;
  const target = new Router(deps, scope).splitName(message.params.name);
  if (!target) return undefined;
  const tool = deps.upstream(target.server).tool(target.name);
  if (!tool || isHidden(deps.policyFor(target.server), tool.name)) return undefined;
  let scan = scans.get(tool);
  if (!scan) {
    scan = scanParamHeaders(tool.inputSchema);
    scans.set(tool, scan);
  }
  if (!scan.valid || scan.declarations.length === 0) return undefined;
  return checkParamHeaders(scan.declarations, message.params.arguments, header)?.problem;
}
