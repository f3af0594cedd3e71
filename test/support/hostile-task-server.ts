/**
 * A hostile 2026-07-28 MCP server (v2 SDK, Streamable HTTP, no 2025 leg)
 * that serves the tasks extension (`io.modelcontextprotocol/tasks`) the way
 * a broken or malicious server might, for the tests of what Airlock does
 * with a server's own tasks. Prints `listening <port>` on stdout. Every
 * JSON-RPC message it receives is appended to `HOSTILE_TASK_LOG` (one JSON
 * line each), so a test sees what reached it. Run with `node --import tsx`.
 *
 * Tools (each answers a client that declared the extension with a task):
 * - `big_result {kb}`: its task completes at once with a text result of `kb` KiB;
 * - `lying_status`: its task's status is `banana`, at creation and on every tasks/get;
 * - `asks_sampling`: its task waits in input_required on one sampling/createMessage question, key `s1`;
 * - `long_task`: its task works until tasks/cancel cancels it;
 * - `big_error {kb}` (never a task): answers a JSON-RPC error whose `data` is `kb` KiB of text.
 */
import { appendFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { createMcpHandler, ProtocolError, Server } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { z } from 'zod';

const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
const log = process.env.HOSTILE_TASK_LOG;
type Json = Record<string, unknown>;

interface Task {
  taskId: string;
  tool: string;
  kb: number;
  status: string;
  createdAt: string;
}
const tasks = new Map<string, Task>();

const TOOLS = ['big_result', 'lying_status', 'asks_sampling', 'long_task', 'big_error'].map((name) => ({
  name,
  description: `hostile ${name}`,
  inputSchema: { type: 'object' as const, properties: { kb: { type: 'number' } } },
}));

function fields(task: Task): Json {
  return {
    taskId: task.taskId,
    status: task.status,
    createdAt: task.createdAt,
    lastUpdatedAt: new Date().toISOString(),
    ttlMs: 600_000,
    pollIntervalMs: 100,
  };
}

function detailed(task: Task): Json {
  switch (task.tool) {
    case 'big_result':
      return { ...fields(task), status: 'completed', result: { content: [{ type: 'text', text: 'x'.repeat(task.kb * 1024) }] } };
    case 'asks_sampling':
      return {
        ...fields(task),
        status: 'input_required',
        inputRequests: {
          s1: {
            method: 'sampling/createMessage',
            params: { messages: [{ role: 'user', content: { type: 'text', text: 'Say something' } }], maxTokens: 10 },
          },
        },
      };
    default:
      return fields(task);
  }
}

function build(): Server {
  const server = new Server(
    { name: 'airlock-hostile-tasks', version: '1.0.0' },
    { capabilities: { tools: {}, extensions: { [TASKS_EXTENSION]: {} } } as never },
  );
  server.setRequestHandler('tools/list', async () => ({ tools: TOOLS }));
  server.setRequestHandler('tools/call', async (request) => {
    const kb = Number((request.params.arguments as Json | undefined)?.kb ?? 1);
    if (request.params.name === 'big_error')
      throw new ProtocolError(-32000, 'the hostile server failed on purpose', { blob: 'e'.repeat(kb * 1024) });
    const task: Task = {
      taskId: randomUUID(),
      tool: request.params.name,
      kb,
      status: request.params.name === 'lying_status' ? 'banana' : 'working',
      createdAt: new Date().toISOString(),
    };
    tasks.set(task.taskId, task);
    return { resultType: 'task', ...fields(task) } as never;
  });
  const params = { params: z.looseObject({ taskId: z.string() }) };
  const found = (taskId: string): Task => {
    const task = tasks.get(taskId);
    if (!task) throw new ProtocolError(-32602, 'Failed to retrieve task: Task not found');
    return task;
  };
  server.setRequestHandler('tasks/get', params, ({ taskId }) => detailed(found(taskId)) as never);
  server.setRequestHandler('tasks/update', params, ({ taskId }) => (found(taskId), {}) as never);
  server.setRequestHandler('tasks/cancel', params, ({ taskId }) => {
    found(taskId).status = 'cancelled';
    return {} as never;
  });
  return server;
}

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

const node = toNodeHandler(createMcpHandler(build, { legacy: 'reject' }));
const listener = createServer((req, res) => {
  if (req.method !== 'POST') return void node(req, res);
  void bodyOf(req).then(
    (body) => {
      if (log) for (const message of Array.isArray(body) ? body : [body]) appendFileSync(log, `${JSON.stringify(message)}\n`);
      return node(req, res, body);
    },
    () => res.writeHead(400).end(),
  );
});
listener.listen(0, '127.0.0.1', () => {
  const { port } = listener.address() as { port: number };
  process.stdout.write(`listening ${port}\n`);
});
