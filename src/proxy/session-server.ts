import {
  Server,
  CLIENT_CAPABILITIES_META_KEY,
  isInputRequiredResult,
  LOG_LEVEL_META_KEY,
  PROTOCOL_VERSION_META_KEY,
  ProtocolErrorCode as JsonRpcError,
  type Implementation,
  type InputRequiredResult,
  type LoggingLevel,
  type ClientCapabilities,
  type ServerCapabilities,
  type ServerContext,
  type ServerOptions,
  type Tool,
} from '@modelcontextprotocol/server';
import {
  CompleteResultSchema,
  EmptyResultSchema,
  GetPromptResultSchema,
  ListPromptsResultSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesResultSchema,
  ReadResourceResultSchema,
} from '@modelcontextprotocol/core';
import { z } from 'zod';
import { TASKS_EXTENSION, type Tasks } from '../tasks/index.js';
import { isTaskResult } from './task-open.js';
import { cancelTask, getTask, updateTask, type TaskCaller } from './task-requests.js';
import { isHidden, isPromptHidden, isResourceHidden, POLICY_POLL_MS } from '../policy/index.js';
import { checkAccess, hiddenResource, type AccessCaller, type AccessRequest, type HiddenAnswer } from './access-check.js';
import { ProtocolError, UpstreamUnavailableError } from './errors.js';
import { capText } from '../cap-text.js';
import { VERSION } from '../version.js';
import { MAX_TOOL_NAME_CHARS } from './call-ends.js';
import { forwardRounds } from './forward-rounds.js';
import type { ModernInput } from './input-rounds.js';
import { callTool } from './pipeline.js';
import { ResourceSubscriber } from './resource-subscriber.js';
import type { SessionDeps } from './session-deps.js';
import { progressFor } from './progress.js';
import type { Asker } from './questions.js';
import { notFoundAsServers, unknownPrompt, unknownTool } from './refusal.js';
import { Router, type SessionScope } from './router.js';

export interface SessionIdentity {
  grant: string | undefined;
  /** Filled in once the transport knows it; none for a 2026 client, which has no session. */
  sessionId?: string;
  /** The resources this session subscribed to, as `subscriptionKey(server, uri)` (see ResourceSubscriber). */
  subscriptions: Set<string>;
  /** What this session last asked for with `logging/setLevel`: a 2026 server has no such method, and is sent it with each request. */
  logLevel?: LoggingLevel;
  /** Set for the Server of one 2026 request: it serves the tasks extension (never a 2025 session: its form of tasks is not served). */
  modern?: boolean;
}

/**
 * The MCP server one downstream session (2025) or one request (2026) talks
 * to. It shows the upstream's tools, resources, templates and prompts minus
 * hidden ones, sends every `tools/call` through the pipeline, checks every
 * resource read or subscription, prompt and completion against the policy
 * before passing it on, and passes logging through unchanged. What it
 * forwards loses the upstream's cache hints and identity: the lists are the
 * grant's view, so they are cached privately for at most `CACHE_TTL_MS`.
 */
export function createSessionServer(deps: SessionDeps, scope: SessionScope, identity: SessionIdentity): Server {
  const router = new Router(deps, scope);
  const tasks = identity.modern && deps.tasks?.config.enabled ? deps.tasks : undefined;
  const capabilities = { ...capabilitiesOf(router), ...(tasks && { extensions: { [TASKS_EXTENSION]: {} } }) };
  const subscriber = new ResourceSubscriber(deps, identity.subscriptions);
  // What a 2025 session's servers ask outside any one call goes to the session; its own upstream connections are kept by it.
  const sessionAsker: Asker = {
    capabilities: () => server.getClientCapabilities(),
    get context() {
      return {
        grant: identity.grant,
        session: identity.sessionId,
        client: server.getClientVersion()?.name,
        protocol: server.getNegotiatedProtocolVersion(),
      };
    },
    ask: (question, options) => server.request(question as never, options) as Promise<Record<string, unknown>>,
    tell: (notification) => void server.notification(notification as never).catch(() => undefined),
  };
  const server = new SessionServer(
    { name: scope.aggregated ? 'airlock' : `airlock/${scope.servers[0]}`, version: VERSION },
    { capabilities, instructions: router.instructions(), cacheHints: PRIVATE_CACHE_HINTS },
    subscriber,
    () => {
      for (const name of scope.servers) deps.upstream(name).release(sessionAsker);
    },
  );
  const who = (ctx: ServerContext): AccessCaller => ({
    grant: identity.grant,
    session: identity.sessionId ?? ctx.sessionId,
    client: server.getClientVersion()?.name,
    protocol: protocolOf(server, ctx),
  });
  /** A 2025 request's agent can be asked on the request's own stream; a 2026 one's questions travel in its result. */
  const askerOf = (ctx: ServerContext, caller: AccessCaller): Asker | undefined =>
    namedProtocol(ctx) !== undefined
      ? undefined
      : {
          capabilities: () => server.getClientCapabilities(),
          context: { grant: caller.grant, session: caller.session, client: caller.client, protocol: caller.protocol },
          ask: (question, options) => ctx.mcpReq.send(question as never, options) as Promise<Record<string, unknown>>,
          session: sessionAsker,
        };

  server.setRequestHandler('tools/list', async () => {
    const tools: Tool[] = [];
    for (const name of router.listable()) {
      const policy = deps.policyFor(name);
      for (const tool of deps.upstream(name).tools) {
        if (!isHidden(policy, tool.name)) tools.push(scope.aggregated ? { ...tool, name: router.qualify(name, tool.name) } : tool);
      }
    }
    return { tools };
  });

  server.setRequestHandler('tools/call', async (request, ctx) => {
    const target = router.splitName(request.params.name);
    if (!target) throw unknownTool(capText(request.params.name, MAX_TOOL_NAME_CHARS));
    // The envelope keys of a 2026 request are already lifted out of ctx.mcpReq._meta: they are not the upstream's to read.
    const { progressToken, ...given } = ctx.mcpReq._meta ?? {};
    const meta = { ...given, ...logLevelMeta(deps, target.server, identity) };
    // The SDK's own signal, aborted on notifications/cancelled and when the session closes; the endpoint sends the
    // SDK a cancel when the HTTP request carrying the call is dropped. A held call keeps no controller of its own.
    const { signal } = ctx.mcpReq;
    const caller = who(ctx);
    const asker = askerOf(ctx, caller);
    const result = await callTool(deps, {
      server: target.server,
      tool: target.name,
      calledAs: request.params.name,
      args: request.params.arguments,
      meta: Object.keys(meta).length > 0 ? meta : undefined,
      grant: caller.grant,
      session: caller.session,
      client: caller.client,
      protocol: caller.protocol,
      signal,
      ...(asker && { asker }),
      ...(namedProtocol(ctx) !== undefined && { input: modernInput(ctx, scope) }),
      // Only a 2025 session's stream can be closed and resumed; a 2026 client keeps its request's stream to the end.
      ...(ctx.http?.closeSSE && { closeStream: ctx.http.closeSSE }),
      ...(progressToken !== undefined && {
        progress: progressFor(
          (p) => void ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, ...p } }).catch(() => undefined),
        ),
      }),
    });
    if (isInputRequiredResult(result)) return result;
    if (isTaskResult(result)) return result as never;
    // A 2026 server may answer a non-object structuredContent, which a 2025 client reads wrapped as {result: …}.
    const tool = deps.upstream(target.server).tool(target.name);
    return server.projectCallToolResult(result, tool?.outputSchema);
  });

  const forward: Forward = (name, method, params, schema, ctx) => {
    const level = logLevelMeta(deps, name, identity);
    const sent = level ? { ...params, _meta: { ...(params?._meta as Record<string, unknown> | undefined), ...level } } : params;
    return deps
      .upstream(name)
      .request({ method, ...(sent && { params: sent }) }, schema, { signal: ctx.mcpReq.signal })
      .catch(rethrow);
  };
  // prompts/get and resources/read, which a 2026 server may answer with questions for a 2026 client (see forwardRounds).
  const forwardAsking: ForwardAsking = (name, method, target, params, schema, ctx) => {
    if (namedProtocol(ctx) === undefined) return forward(name, method, params, schema, ctx);
    const level = logLevelMeta(deps, name, identity);
    const sent = level ? { ...params, _meta: { ...(params._meta as Record<string, unknown> | undefined), ...level } } : params;
    const caller = who(ctx);
    const request = {
      grant: identity.grant,
      endpoint: endpointOf(scope),
      server: name,
      method,
      target,
      args: method === 'prompts/get' ? ((params.arguments as Record<string, unknown> | undefined) ?? {}) : {},
      params: sent,
      caller: { grant: caller.grant ?? null, client: caller.client ?? null, protocol: caller.protocol ?? null },
      signal: ctx.mcpReq.signal,
    };
    return forwardRounds(deps, request, modernInput(ctx, scope), schema).catch(rethrow);
  };

  // The session's own upstream sessions were told its agent's roots (see SessionLink): they hear that those changed.
  server.setNotificationHandler('notifications/roots/list_changed', async () => {
    for (const name of scope.servers) deps.upstream(name).rootsChanged(sessionAsker);
  });

  if (tasks)
    registerTasks({ ...deps, tasks }, server, (ctx) => ({
      ...who(ctx),
      endpoint: endpointOf(scope),
      capabilities: modernInput(ctx, scope).capabilities,
    }));

  const check: Check = (request, ctx, hidden) => checkAccess(deps, who(ctx), request, hidden);
  const context: Context = { server, router, scope, forward, forwardAsking, check, policyFor: deps.policyFor };
  if (capabilities.resources) registerResources(context, subscriber);
  if (capabilities.prompts) registerPrompts(context);
  if (capabilities.completions) registerCompletion(context);
  if (capabilities.logging) {
    server.setRequestHandler('logging/setLevel', async (request, ctx) => {
      identity.logLevel = request.params.level;
      await Promise.all(
        router
          .listable()
          .filter((name) => deps.upstream(name).capabilities?.logging && !deps.upstream(name).stateless)
          .map((name) => forward(name, 'logging/setLevel', request.params, EmptyResultSchema, ctx)),
      );
      return {};
    });
  }
  return server;
}

/** tasks/get, tasks/update and tasks/cancel, for the caller's own tasks only (see task-requests.ts). */
/** Made once: zod compiles a schema on its first use, and a 2026 request builds its Server anew. The id is getTask's to check. */
const TASK_PARAMS = { params: z.looseObject({ taskId: z.unknown() }) };

function registerTasks(deps: SessionDeps & { tasks: Tasks }, server: Server, caller: (ctx: ServerContext) => TaskCaller): void {
  const taskDeps = { ...deps, relay: deps.inputs.relay };
  const params = TASK_PARAMS;
  server.setRequestHandler('tasks/get', params, (p, ctx) => getTask(taskDeps, caller(ctx), p.taskId) as never);
  // The SDK lifts a 2026 request's inputResponses out of its params, tasks/update's too.
  server.setRequestHandler(
    'tasks/update',
    params,
    (p, ctx) => updateTask(taskDeps, caller(ctx), p.taskId, ctx.mcpReq.inputResponses) as never,
  );
  server.setRequestHandler('tasks/cancel', params, (p, ctx) => cancelTask(taskDeps, caller(ctx), p.taskId) as never);
}

/**
 * A session's Server that gives back the session's resource subscriptions
 * when its transport closes, however that came about: DELETE, the idle
 * sweep, a shutdown, the end of a stdio pipe. Hooked here rather than on
 * `onclose`, which belongs to whoever runs the session (airlock stdio sets it).
 */
class SessionServer extends Server {
  readonly #subscriber: ResourceSubscriber;
  readonly #onClosed: () => void;

  constructor(info: Implementation, options: ServerOptions, subscriber: ResourceSubscriber, onClosed: () => void) {
    super(info, options);
    this.#subscriber = subscriber;
    this.#onClosed = onClosed;
  }

  protected override _onclose(): void {
    void this.#subscriber.release();
    this.#onClosed();
    super._onclose();
  }
}

/**
 * How long a 2026 client may reuse a list or read: no longer than the policy
 * watcher takes to see an edit, so a tool or resource the policy newly hides
 * is gone from every cache within one poll. Private, since each grant's
 * view is its own.
 */
export const CACHE_TTL_MS = POLICY_POLL_MS;
const PRIVATE = { ttlMs: CACHE_TTL_MS, cacheScope: 'private' } as const;
const PRIVATE_CACHE_HINTS = {
  'tools/list': PRIVATE,
  'prompts/list': PRIVATE,
  'resources/list': PRIVATE,
  'resources/templates/list': PRIVATE,
  'resources/read': PRIVATE,
  'server/discover': PRIVATE,
};

/**
 * The `_meta` that carries a session's log level to a 2026 server, which
 * has no `logging/setLevel`; none for a 2025 server (it was told once) or
 * before the session set a level. A 2026 client's own per-request level is
 * not passed on: the server's messages reach every session of that server
 * (see SessionRegistry.broadcast), and a level one client chose must not
 * make a server send its logs to the others.
 */
function logLevelMeta(deps: SessionDeps, server: string, identity: SessionIdentity): Record<string, unknown> | undefined {
  if (identity.logLevel === undefined || !deps.upstream(server).stateless) return undefined;
  return { [LOG_LEVEL_META_KEY]: identity.logLevel };
}

/** The client's protocol version: the one its 2026 request names, or the one its 2025 session negotiated. */
function protocolOf(server: Server, ctx: ServerContext): string | undefined {
  return namedProtocol(ctx) ?? server.getNegotiatedProtocolVersion();
}

/** The protocol version a 2026 request names in its envelope; none for a 2025 session's. */
function namedProtocol(ctx: ServerContext): string | undefined {
  // The SDK types the envelope as {}: its keys are the constants'.
  const named = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[PROTOCOL_VERSION_META_KEY];
  return typeof named === 'string' ? named : undefined;
}

/** `/mcp` or `/mcp/<server>`, as a requestState binds it. */
function endpointOf(scope: SessionScope): string {
  return scope.aggregated ? '/mcp' : `/mcp/${scope.servers[0]}`;
}

/** What a 2026 request carries for its server's questions: the SDK lifts the client's capabilities, answers and state out of its params. */
function modernInput(ctx: ServerContext, scope: SessionScope): ModernInput {
  const capabilities = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as
    ClientCapabilities | undefined;
  const state = ctx.mcpReq.requestState();
  return {
    endpoint: endpointOf(scope),
    capabilities,
    ...(ctx.mcpReq.inputResponses && { responses: ctx.mcpReq.inputResponses }),
    ...(typeof state === 'string' && { state }),
  };
}

type Forward = <S extends z.ZodType>(
  server: string,
  method: string,
  params: Record<string, unknown> | undefined,
  schema: S,
  ctx: ServerContext,
) => Promise<z.output<S>>;
/** The policy's check of one request (see checkAccess); throws its refusal. */
type Check = (request: AccessRequest, ctx: ServerContext, hidden: HiddenAnswer) => void;

type ForwardAsking = <S extends z.ZodType>(
  server: string,
  method: 'prompts/get' | 'resources/read',
  target: string,
  params: Record<string, unknown>,
  schema: S,
  ctx: ServerContext,
) => Promise<z.output<S> | InputRequiredResult>;

interface Context {
  server: Server;
  router: Router;
  scope: SessionScope;
  forward: Forward;
  forwardAsking: ForwardAsking;
  check: Check;
  policyFor: SessionDeps['policyFor'];
}

function hiddenPrompt(name: string): HiddenAnswer {
  return { notFound: () => notFoundAsServers(`Prompt ${name}`), policyFirst: true };
}

function registerResources(
  { server, router, scope, forward, forwardAsking, check, policyFor }: Context,
  subscriber: ResourceSubscriber,
): void {
  const only = scope.servers[0]!;
  server.setRequestHandler('resources/list', async (request, ctx) => {
    if (scope.aggregated) return { resources: await router.allResources(ctx.mcpReq.signal) };
    const page = await forward(only, 'resources/list', request.params, ListResourcesResultSchema, ctx);
    const policy = policyFor(only);
    return { ...page, resources: page.resources.filter((r) => !isResourceHidden(policy, r.uri)) };
  });
  server.setRequestHandler('resources/templates/list', async (request, ctx) => {
    if (scope.aggregated) return { resourceTemplates: await router.allResourceTemplates(ctx.mcpReq.signal) };
    const page = await forward(only, 'resources/templates/list', request.params, ListResourceTemplatesResultSchema, ctx);
    const policy = policyFor(only);
    return { ...page, resourceTemplates: page.resourceTemplates.filter((t) => !isResourceHidden(policy, t.uriTemplate)) };
  });
  server.setRequestHandler('resources/read', async (request, ctx) => {
    const { uri } = request.params;
    const owner = await router.serverForUri(uri, ctx.mcpReq.signal);
    check({ method: 'resources/read', server: owner, resource: uri }, ctx, hiddenResource(scope, uri, 'Resource'));
    return forwardAsking(owner, 'resources/read', uri, request.params, ReadResourceResultSchema, ctx);
  });
  // The upstream connection is shared by every session, so its resource updates are passed only to the sessions
  // that subscribed, and it counts them: the server hears an unsubscribe only when the last one has left.
  server.setRequestHandler('resources/subscribe', async (request, ctx) => {
    const { uri } = request.params;
    const owner = await router.serverForUri(uri, ctx.mcpReq.signal);
    check({ method: 'resources/subscribe', server: owner, resource: uri }, ctx, hiddenResource(scope, uri, 'Resource'));
    await subscriber.subscribe(owner, request.params, ctx.mcpReq.signal).catch(rethrow);
    return {};
  });
  // Not checked against the policy: giving up a subscription reveals and costs nothing.
  server.setRequestHandler('resources/unsubscribe', async (request) => {
    await subscriber.unsubscribe(request.params.uri);
    return {};
  });
}

function registerPrompts({ server, router, scope, forward, forwardAsking, check, policyFor }: Context): void {
  server.setRequestHandler('prompts/list', async (request, ctx) => {
    if (scope.aggregated) return { prompts: await router.allPrompts(ctx.mcpReq.signal) };
    const only = scope.servers[0]!;
    const page = await forward(only, 'prompts/list', request.params, ListPromptsResultSchema, ctx);
    const policy = policyFor(only);
    return { ...page, prompts: page.prompts.filter((p) => !isPromptHidden(policy, p.name)) };
  });
  server.setRequestHandler('prompts/get', async (request, ctx) => {
    const target = router.splitName(request.params.name);
    if (!target) throw unknownPrompt(request.params.name);
    check({ method: 'prompts/get', server: target.server, prompt: target.name }, ctx, hiddenPrompt(target.name));
    return forwardAsking(target.server, 'prompts/get', target.name, { ...request.params, name: target.name }, GetPromptResultSchema, ctx);
  });
}

function registerCompletion({ server, router, scope, forward, check }: Context): void {
  server.setRequestHandler('completion/complete', async (request, ctx) => {
    const { ref } = request.params;
    if (ref.type === 'ref/prompt') {
      const target = router.splitName(ref.name);
      if (!target) throw unknownPrompt(ref.name);
      check({ method: 'completion/complete', server: target.server, prompt: target.name }, ctx, hiddenPrompt(target.name));
      return forward(
        target.server,
        'completion/complete',
        { ...request.params, ref: { ...ref, name: target.name } },
        CompleteResultSchema,
        ctx,
      );
    }
    const owner = await router.serverForUri(ref.uri, ctx.mcpReq.signal);
    check({ method: 'completion/complete', server: owner, resource: ref.uri }, ctx, hiddenResource(scope, ref.uri, 'Resource template'));
    return forward(owner, 'completion/complete', request.params, CompleteResultSchema, ctx);
  });
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
