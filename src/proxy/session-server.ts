import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CompleteResultSchema,
  EmptyResultSchema,
  GetPromptRequestSchema,
  GetPromptResultSchema,
  ListPromptsRequestSchema,
  ListPromptsResultSchema,
  ListResourcesRequestSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesRequestSchema,
  ListResourceTemplatesResultSchema,
  ListToolsRequestSchema,
  ErrorCode as JsonRpcError,
  ReadResourceRequestSchema,
  ReadResourceResultSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type ServerCapabilities,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { isHidden, isPromptHidden, isResourceHidden } from '../policy/index.js';
import { checkAccess, type AccessRequest, type HiddenAnswer } from './access-check.js';
import { ProtocolError, UpstreamUnavailableError } from './errors.js';
import { capText } from '../cap-text.js';
import { VERSION } from '../version.js';
import { MAX_TOOL_NAME_CHARS } from './call-ends.js';
import { callTool } from './pipeline.js';
import type { SessionDeps } from './session-deps.js';
import { progressFor } from './progress.js';
import { notFoundAsServers, unknownPrompt, unknownResource, unknownTool } from './refusal.js';
import { Router, type SessionScope } from './router.js';

export interface SessionIdentity {
  grant: string | undefined;
  /** Filled in once the transport knows it. */
  sessionId?: string;
  /** The resources this session subscribed to, as `subscriptionKey(server, uri)`. */
  subscriptions: Set<string>;
  /**
   * Tool calls in flight by JSON-RPC id. The SDK aborts a call on
   * notifications/cancelled and when the session closes, but not when the
   * HTTP request carrying it is dropped: the endpoint aborts these then.
   */
  calls: Map<string | number, AbortController>;
}

const ToolsCallMethodSchema = z.looseObject({ method: z.literal('tools/call') });

/**
 * The MCP server one downstream session talks to. It shows the upstream's
 * tools, resources, templates and prompts minus hidden ones, sends every
 * `tools/call` through the pipeline, checks every resource read or
 * subscription, prompt and completion against the policy before passing it
 * on, and passes logging through unchanged.
 */
export function createSessionServer(deps: SessionDeps, scope: SessionScope, identity: SessionIdentity): Server {
  const router = new Router(deps, scope);
  const capabilities = capabilitiesOf(router);
  const server = new Server(
    { name: scope.aggregated ? 'airlock' : `airlock/${scope.servers[0]}`, version: VERSION },
    { capabilities, instructions: router.instructions() },
  );

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const tools: Tool[] = [];
    for (const name of router.listable()) {
      const policy = deps.policyFor(name);
      for (const tool of deps.upstream(name).tools) {
        // The upstream reads tools with the SDK v2 types; this server still answers with v1's (one shape on the wire).
        if (!isHidden(policy, tool.name))
          tools.push((scope.aggregated ? { ...tool, name: router.qualify(name, tool.name) } : tool) as Tool);
      }
    }
    return { tools };
  });

  // The SDK's Server answers tools/call params that fail CallToolRequestSchema with -32602, but only if the
  // schema registered here lets them through: registered with CallToolRequestSchema itself, an earlier parse
  // fails first and the agent gets -32603 (Internal error) with a zod dump. So register by method, parse after.
  server.setRequestHandler(ToolsCallMethodSchema, async (raw, extra) => {
    const request = CallToolRequestSchema.parse(raw);
    const target = router.splitName(request.params.name);
    if (!target) throw unknownTool(capText(request.params.name, MAX_TOOL_NAME_CHARS));
    const { progressToken, ...meta } = request.params._meta ?? {};
    // One controller per call, aborted by the SDK's signal or by the endpoint (AbortSignal.any would do, but on
    // Node 20 it keeps every combined signal alive until its sources are collected, which held calls make costly).
    const call = new AbortController();
    const onAbort = () => call.abort(extra.signal.reason);
    if (extra.signal.aborted) onAbort();
    else extra.signal.addEventListener('abort', onAbort, { once: true });
    identity.calls.set(extra.requestId, call);
    try {
      return await callTool(deps, {
        server: target.server,
        tool: target.name,
        calledAs: request.params.name,
        args: request.params.arguments,
        meta: Object.keys(meta).length > 0 ? meta : undefined,
        grant: identity.grant,
        session: identity.sessionId ?? extra.sessionId,
        client: server.getClientVersion()?.name,
        signal: call.signal,
        ...(progressToken !== undefined && {
          progress: progressFor(
            (p) =>
              void extra.sendNotification({ method: 'notifications/progress', params: { progressToken, ...p } }).catch(() => undefined),
          ),
        }),
      });
    } finally {
      extra.signal.removeEventListener('abort', onAbort);
      identity.calls.delete(extra.requestId);
    }
  });

  const forward: Forward = (name, method, params, schema, signal) =>
    deps
      .upstream(name)
      .request({ method, ...(params && { params }) }, schema, { signal })
      .catch(rethrow);

  const check: Check = (request, sessionId, hidden) =>
    checkAccess(
      deps,
      { grant: identity.grant, session: identity.sessionId ?? sessionId, client: server.getClientVersion()?.name },
      request,
      hidden,
    );
  const ctx: Context = { server, router, scope, forward, check, policyFor: deps.policyFor };
  if (capabilities.resources) registerResources(ctx, identity.subscriptions);
  if (capabilities.prompts) registerPrompts(ctx);
  if (capabilities.completions) registerCompletion(ctx);
  if (capabilities.logging) {
    server.setRequestHandler(SetLevelRequestSchema, async (request, extra) => {
      await Promise.all(
        router
          .listable()
          .filter((name) => deps.upstream(name).capabilities?.logging)
          .map((name) => forward(name, 'logging/setLevel', request.params, EmptyResultSchema, extra.signal)),
      );
      return {};
    });
  }
  return server;
}

type Forward = <S extends z.ZodType>(
  server: string,
  method: string,
  params: Record<string, unknown> | undefined,
  schema: S,
  signal: AbortSignal,
) => Promise<z.output<S>>;
/** The policy's check of one request (see checkAccess); throws its refusal. */
type Check = (request: AccessRequest, sessionId: string | undefined, hidden: HiddenAnswer) => void;

interface Context {
  server: Server;
  router: Router;
  scope: SessionScope;
  forward: Forward;
  check: Check;
  policyFor: SessionDeps['policyFor'];
}

/**
 * On `/mcp` a URI no list names is answered Unknown resource before any
 * policy, so a hidden one is answered so too; on `/mcp/:server` the policy
 * comes first, as it does for prompts on both.
 */
function hiddenResource(scope: SessionScope, uri: string, what: 'Resource' | 'Resource template'): HiddenAnswer {
  return scope.aggregated
    ? { notFound: () => unknownResource(uri), policyFirst: false }
    : { notFound: () => notFoundAsServers(`${what} ${uri}`), policyFirst: true };
}

function hiddenPrompt(name: string): HiddenAnswer {
  return { notFound: () => notFoundAsServers(`Prompt ${name}`), policyFirst: true };
}

function registerResources({ server, router, scope, forward, check, policyFor }: Context, subscriptions: Set<string>): void {
  const only = scope.servers[0]!;
  server.setRequestHandler(ListResourcesRequestSchema, async (request, extra) => {
    if (scope.aggregated) return { resources: await router.allResources(extra.signal) };
    const page = await forward(only, 'resources/list', request.params, ListResourcesResultSchema, extra.signal);
    const policy = policyFor(only);
    return { ...page, resources: page.resources.filter((r) => !isResourceHidden(policy, r.uri)) };
  });
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async (request, extra) => {
    if (scope.aggregated) return { resourceTemplates: await router.allResourceTemplates(extra.signal) };
    const page = await forward(only, 'resources/templates/list', request.params, ListResourceTemplatesResultSchema, extra.signal);
    const policy = policyFor(only);
    return { ...page, resourceTemplates: page.resourceTemplates.filter((t) => !isResourceHidden(policy, t.uriTemplate)) };
  });
  server.setRequestHandler(ReadResourceRequestSchema, async (request, extra) => {
    const { uri } = request.params;
    const owner = await router.serverForUri(uri, extra.signal);
    check({ method: 'resources/read', server: owner, resource: uri }, extra.sessionId, hiddenResource(scope, uri, 'Resource'));
    return forward(owner, 'resources/read', request.params, ReadResourceResultSchema, extra.signal);
  });
  // The upstream connection is shared by every session, so its resource updates are passed only to the
  // sessions that subscribed, and one session's unsubscribe stays here: passed on, it would end the others'.
  server.setRequestHandler(SubscribeRequestSchema, async (request, extra) => {
    const { uri } = request.params;
    const owner = await router.serverForUri(uri, extra.signal);
    check({ method: 'resources/subscribe', server: owner, resource: uri }, extra.sessionId, hiddenResource(scope, uri, 'Resource'));
    const result = await forward(owner, 'resources/subscribe', request.params, EmptyResultSchema, extra.signal);
    subscriptions.add(subscriptionKey(owner, uri));
    return result;
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (request, extra) => {
    subscriptions.delete(subscriptionKey(await router.serverForUri(request.params.uri, extra.signal), request.params.uri));
    return {};
  });
}

function registerPrompts({ server, router, scope, forward, check, policyFor }: Context): void {
  server.setRequestHandler(ListPromptsRequestSchema, async (request, extra) => {
    if (scope.aggregated) return { prompts: await router.allPrompts(extra.signal) };
    const only = scope.servers[0]!;
    const page = await forward(only, 'prompts/list', request.params, ListPromptsResultSchema, extra.signal);
    const policy = policyFor(only);
    return { ...page, prompts: page.prompts.filter((p) => !isPromptHidden(policy, p.name)) };
  });
  server.setRequestHandler(GetPromptRequestSchema, async (request, extra) => {
    const target = router.splitName(request.params.name);
    if (!target) throw unknownPrompt(request.params.name);
    check({ method: 'prompts/get', server: target.server, prompt: target.name }, extra.sessionId, hiddenPrompt(target.name));
    return forward(target.server, 'prompts/get', { ...request.params, name: target.name }, GetPromptResultSchema, extra.signal);
  });
}

function registerCompletion({ server, router, scope, forward, check }: Context): void {
  server.setRequestHandler(CompleteRequestSchema, async (request, extra) => {
    const { ref } = request.params;
    if (ref.type === 'ref/prompt') {
      const target = router.splitName(ref.name);
      if (!target) throw unknownPrompt(ref.name);
      check({ method: 'completion/complete', server: target.server, prompt: target.name }, extra.sessionId, hiddenPrompt(target.name));
      return forward(
        target.server,
        'completion/complete',
        { ...request.params, ref: { ...ref, name: target.name } },
        CompleteResultSchema,
        extra.signal,
      );
    }
    const owner = await router.serverForUri(ref.uri, extra.signal);
    check(
      { method: 'completion/complete', server: owner, resource: ref.uri },
      extra.sessionId,
      hiddenResource(scope, ref.uri, 'Resource template'),
    );
    return forward(owner, 'completion/complete', request.params, CompleteResultSchema, extra.signal);
  });
}

export function subscriptionKey(server: string, uri: string): string {
  return `${server}\n${uri}`;
}

/** What the session offers: the union of its upstreams' capabilities; everything while an upstream is still connecting. */
function capabilitiesOf(router: Router): ServerCapabilities {
  const known = router.knownCapabilities();
  const any = (pick: (c: ServerCapabilities) => unknown) => known === undefined || known.some((c) => pick(c) !== undefined);
  return {
    tools: { listChanged: true },
    ...(any((c) => c.resources) && { resources: { subscribe: true, listChanged: true } }),
    ...(any((c) => c.prompts) && { prompts: { listChanged: true } }),
    ...(any((c) => c.completions) && { completions: {} }),
    ...(any((c) => c.logging) && { logging: {} }),
  };
}

/** An unreachable upstream is a JSON-RPC error for everything but tool calls, which answer `[UNAVAILABLE]`. */
function rethrow(err: unknown): never {
  if (err instanceof UpstreamUnavailableError) throw new ProtocolError(JsonRpcError.InternalError, `[UNAVAILABLE] ${err.message}`);
  throw err;
}
