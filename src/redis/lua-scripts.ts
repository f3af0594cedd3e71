import { readFileSync } from 'node:fs';
import { basename, dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { errorMessage } from '../errors.js';

/**
 * Redis scripts cannot load other scripts, so shared helpers are written in
 * where a line `--@include <file>` stands (resolved from the including file's
 * folder). A file appears once however many files include it: its local
 * functions are defined once, at its first include. Any other line starting
 * `--@` is an error rather than a comment, so a misspelt include cannot
 * leave a helper out unnoticed.
 */
const DIRECTIVE = /^--@(\S*)(.*)$/;

/** A script that cannot be put together: a file missing, an include cycle, a directive that is not `--@include <file>`. */
export class LuaScriptError extends Error {
  /** The files from the script asked for to the one at fault, as absolute paths. */
  readonly chain: readonly string[];

  constructor(message: string, chain: readonly string[], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LuaScriptError';
    this.chain = chain;
  }
}

/** The script in `file` with its includes written in. */
export function readLuaScript(file: URL | string): string {
  const root = file instanceof URL ? fileURLToPath(file) : resolve(file);
  const included = new Set<string>();
  const expand = (path: string, chain: readonly string[]): string => {
    const through = [...chain, path];
    if (chain.includes(path))
      throw new LuaScriptError(
        `Lua include cycle: ${describeChain(through)}; a file cannot include itself, directly or through another`,
        through,
      );
    included.add(path);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? errorMessage(err);
      throw new LuaScriptError(
        `Lua script ${path} cannot be read (${why}): ${describeChain(through)}; fix the --@include line, or run npm run build if it is missing from dist/`,
        through,
        { cause: err },
      );
    }
    return text
      .split('\n')
      .map((line, index) => {
        const directive = DIRECTIVE.exec(line);
        if (!directive) return line;
        const [, name, rest = ''] = directive;
        const target = rest.trim();
        if (name !== 'include' || target === '') {
          throw new LuaScriptError(
            `${path}:${index + 1}: "${line}" is not a directive; write --@include <file>, or leave out the @ for a comment`,
            through,
          );
        }
        const next = resolve(dirname(path), target);
        if (included.has(next) && !through.includes(next)) return '';
        return expand(next, through).replace(/\n$/, '');
      })
      .join('\n');
  };
  return expand(root, []);
}

/** The chain as names relative to the first file's folder, which it names once. */
function describeChain(chain: readonly string[]): string {
  const folder = dirname(chain[0] ?? '');
  return `${chain.map((path) => relative(folder, path) || basename(path)).join(' → ')} (in ${folder})`;
}

export interface LuaScriptSpec {
  /** The command's name on the client; unique among the scripts defined on one. */
  name: string;
  /** The script file, e.g. `new URL('./decide.lua', import.meta.url)`: beside the module, in src/ and in dist/ alike. */
  file: URL;
  /** How many of its arguments are keys; left out when that varies by call (the keys passed are counted). */
  numberOfKeys?: number;
}

/** One call of a script: its KEYS and its ARGV, in the order its header lists them. */
export type LuaCommand<Reply, Keys extends readonly string[], Args extends readonly (string | number)[]> = (
  keys: Keys,
  args: Args,
) => Promise<Reply>;

/**
 * A script run through ioredis's `defineCommand`, so it is sent as EVALSHA
 * and again as EVAL when Redis answers NOSCRIPT (after a restart or SCRIPT
 * FLUSH). The file is read and expanded once per process, at its first
 * `define`; `define` makes the command on a client and returns it typed.
 */
export class LuaScript<Reply, Keys extends readonly string[] = string[], Args extends readonly (string | number)[] = (string | number)[]> {
  readonly #spec: LuaScriptSpec;
  #source: string | undefined;

  constructor(spec: LuaScriptSpec) {
    this.#spec = spec;
  }

  get source(): string {
    this.#source ??= readLuaScript(this.#spec.file);
    return this.#source;
  }

  define(redis: Redis): LuaCommand<Reply, Keys, Args> {
    const { name, numberOfKeys } = this.#spec;
    redis.defineCommand(name, { lua: this.source, numberOfKeys });
    // defineCommand adds the method at run time under a name TypeScript cannot know; reaching it here
    // keeps its type in one place instead of a module augmentation of ioredis per script.
    const run = Reflect.get(redis, name) as (...keysThenArgs: (string | number)[]) => Promise<Reply>;
    if (numberOfKeys === undefined) return (keys, args) => run.call(redis, keys.length, ...keys, ...args);
    return (keys, args) => run.call(redis, ...keys, ...args);
  }
}

/** The commands `defineLuaScripts` returns, under their scripts' keys. */
export type LuaCommands<S extends Record<string, { define(redis: Redis): unknown }>> = { [K in keyof S]: ReturnType<S[K]['define']> };

/** Defines every script of a module on one client. */
export function defineLuaScripts<S extends Record<string, { define(redis: Redis): unknown }>>(redis: Redis, scripts: S): LuaCommands<S> {
  return Object.fromEntries(Object.entries(scripts).map(([key, script]) => [key, script.define(redis)])) as LuaCommands<S>;
}
