import { ListPromptsResultSchema, ListResourcesResultSchema, ListResourceTemplatesResultSchema } from '@modelcontextprotocol/core';
import {
  ProtocolErrorCode as JsonRpcError,
  UriTemplate,
  type Prompt,
  type Resource,
  type ResourceTemplateType as ResourceTemplate,
  type ServerCapabilities,
} from '@modelcontextprotocol/server';
import type { z, ZodType } from 'zod';
import { isPromptHidden, isResourceHidden } from '../policy/index.js';
import { ProtocolError } from './errors.js';
import type { SessionDeps } from './session-deps.js';
import { unknownResource } from './refusal.js';

/** The servers a session reaches: one on `/mcp/:server`, every server the grant may use on `/mcp`. */
export interface SessionScope {
  servers: string[];
  aggregated: boolean;
}

/** `server__tool` on the aggregated endpoint: server names never contain `__`, so the first one splits. */
export const SEPARATOR = '__';

/**
 * Maps the names and URIs a session uses to the upstream that owns them. On
 * `/mcp` tool and prompt names carry their server's name; resource URIs are
 * left as the servers wrote them and found again by the lists that named them.
 * The merged lists leave out what each server's policy hides.
 */
export class Router {
  readonly #deps: SessionDeps;
  readonly #scope: SessionScope;
  #uriOwners = new Map<string, string>();

  constructor(deps: SessionDeps, scope: SessionScope) {
    this.#deps = deps;
    this.#scope = scope;
  }

  /** Servers whose lists can be read now. On a single-server session an unreachable server is an error, not an empty list. */
  listable(): string[] {
    const connected = this.#scope.servers.filter((name) => this.#deps.upstream(name).status === 'connected');
    if (!this.#scope.aggregated && connected.length === 0) {
      const name = this.#scope.servers[0] ?? '';
      throw new ProtocolError(JsonRpcError.InternalError, `[UNAVAILABLE] upstream ${name} is not connected${lastError(this.#deps, name)}`);
    }
    return connected;
  }

  qualify(server: string, name: string): string {
    return `${server}${SEPARATOR}${name}`;
  }

  splitName(name: string): { server: string; name: string } | undefined {
    if (!this.#scope.aggregated) return { server: this.#scope.servers[0] ?? '', name };
    const at = name.indexOf(SEPARATOR);
    if (at <= 0) return undefined;
    const server = name.slice(0, at);
    return this.#scope.servers.includes(server) ? { server, name: name.slice(at + SEPARATOR.length) } : undefined;
  }

  instructions(): string | undefined {
    return this.#scope.aggregated ? undefined : this.#deps.upstream(this.#scope.servers[0] ?? '').instructions;
  }

  /** The capabilities of every upstream in scope, or undefined while any of them is not connected. */
  knownCapabilities(): ServerCapabilities[] | undefined {
    const all = this.#scope.servers.map((name) => this.#deps.upstream(name).capabilities);
    return all.every((c) => c !== undefined) ? (all as ServerCapabilities[]) : undefined;
  }

  async allResources(signal: AbortSignal): Promise<Resource[]> {
    const resources: Resource[] = [];
    const owners = new Map<string, string>();
    for (const server of this.#having('resources')) {
      const policy = this.#deps.policyFor(server);
      for (const resource of await this.#pages(server, 'resources/list', ListResourcesResultSchema, (p) => p.resources, signal)) {
        // A hidden URI still has its owner, so reading it meets that server's policy and not another's.
        owners.set(resource.uri, server);
        if (!isResourceHidden(policy, resource.uri)) resources.push(resource);
      }
    }
    // Replaced, not added to: a server naming new URIs on every walk would otherwise grow the session's map without end.
    this.#uriOwners = owners;
    return resources;
  }

  async allResourceTemplates(signal: AbortSignal): Promise<ResourceTemplate[]> {
    const templates: ResourceTemplate[] = [];
    for (const server of this.#having('resources')) {
      const policy = this.#deps.policyFor(server);
      const listed = await this.#pages(
        server,
        'resources/templates/list',
        ListResourceTemplatesResultSchema,
        (p) => p.resourceTemplates,
        signal,
      );
      templates.push(...listed.filter((t) => !isResourceHidden(policy, t.uriTemplate)));
    }
    return templates;
  }

  async allPrompts(signal: AbortSignal): Promise<Prompt[]> {
    const prompts: Prompt[] = [];
    for (const server of this.#having('prompts')) {
      const policy = this.#deps.policyFor(server);
      for (const prompt of await this.#pages(server, 'prompts/list', ListPromptsResultSchema, (p) => p.prompts, signal)) {
        if (!isPromptHidden(policy, prompt.name)) prompts.push({ ...prompt, name: this.qualify(server, prompt.name) });
      }
    }
    return prompts;
  }

  /** The server a resource URI belongs to: a listed resource, else the first server with a matching template. */
  async serverForUri(uri: string, signal: AbortSignal): Promise<string> {
    if (!this.#scope.aggregated) return this.#scope.servers[0] ?? '';
    if (!this.#uriOwners.has(uri)) await this.allResources(signal);
    const owner = this.#uriOwners.get(uri);
    if (owner) return owner;
    for (const server of this.#having('resources')) {
      const templates = await this.#pages(
        server,
        'resources/templates/list',
        ListResourceTemplatesResultSchema,
        (p) => p.resourceTemplates,
        signal,
      );
      if (templates.some((t) => new UriTemplate(t.uriTemplate).match(uri) !== null)) return server;
    }
    throw unknownResource(uri);
  }

  #having(capability: 'resources' | 'prompts'): string[] {
    return this.listable().filter((name) => this.#deps.upstream(name).capabilities?.[capability] !== undefined);
  }

  /** One server's whole list, within its caps, abandoned when the downstream request's `signal` aborts. */
  #pages<S extends ZodType<{ nextCursor?: string }>, T>(
    server: string,
    method: string,
    schema: S,
    items: (page: z.output<S>) => T[],
    signal: AbortSignal,
  ): Promise<T[]> {
    return this.#deps.upstream(server).list(method, schema, items, signal);
  }
}

function lastError(deps: SessionDeps, name: string): string {
  const error = deps.upstream(name).lastError;
  return error ? ` (${error})` : '';
}
