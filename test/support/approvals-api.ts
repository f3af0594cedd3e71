import { until } from './poll.js';

export interface ApiAnswer {
  status: number;
  body: Record<string, unknown> & {
    error?: { code: string; message: string };
    approval?: Record<string, unknown>;
    approvals?: Record<string, unknown>[];
  };
}

/** One call to the gateway's admin API (`/api/...`) with a bearer token. */
export async function api(
  base: string,
  path: string,
  token: string | undefined,
  init: { method?: string; body?: unknown } = {},
): Promise<ApiAnswer> {
  const response = await fetch(`${base}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(token !== undefined && { Authorization: `Bearer ${token}` }),
      ...(init.body !== undefined && { 'Content-Type': 'application/json' }),
    },
    ...(init.body !== undefined && { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
  });
  return { status: response.status, body: (await response.json()) as ApiAnswer['body'] };
}

/** Waits until exactly one pending request for `tool` is listed, and returns it. */
export async function pendingFor(
  base: string,
  token: string,
  tool: string,
  timeoutMs = 30_000,
): Promise<Record<string, unknown> & { id: string }> {
  let found: (Record<string, unknown> & { id: string }) | undefined;
  await until(
    `a pending approval for ${tool}`,
    async () => {
      const { body } = await api(base, `/api/approvals?tool=${encodeURIComponent(tool)}`, token);
      found = body.approvals?.find((a) => a.tool === tool && a.state === 'pending') as typeof found;
      return found !== undefined;
    },
    timeoutMs,
    50,
  );
  return found!;
}

/** Waits until the pending request of the task `taskId` (its `task_id`) is listed, and returns it. */
export async function pendingForTask(
  base: string,
  token: string,
  taskId: string,
  timeoutMs = 30_000,
): Promise<Record<string, unknown> & { id: string }> {
  let found: (Record<string, unknown> & { id: string }) | undefined;
  await until(
    `a pending approval for task ${taskId}`,
    async () => {
      const { body } = await api(base, '/api/approvals?state=pending&limit=1000', token);
      found = body.approvals?.find((a) => a.task_id === taskId) as typeof found;
      return found !== undefined;
    },
    timeoutMs,
    50,
  );
  return found!;
}
