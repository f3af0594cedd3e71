import assert from 'node:assert/strict';
import { api } from './approvals-api.js';
import type { RunningGateway } from './gateway.js';

/** A promise that can be asked, without awaiting it, whether it has settled yet. */
export interface Tracked<T> {
  promise: Promise<T>;
  readonly settled: boolean;
}

export function track<T>(promise: Promise<T>): Tracked<T> {
  let settled = false;
  const watched = promise.finally(() => (settled = true));
  watched.catch(() => undefined);
  return {
    promise: watched,
    get settled() {
      return settled;
    },
  };
}

/** The request as `GET /api/approvals/:id` shows it. */
export async function approvalOf(gateway: RunningGateway, token: string, id: string): Promise<Record<string, unknown>> {
  const { status, body } = await api(gateway.url, `/api/approvals/${id}`, token);
  assert.equal(status, 200, JSON.stringify(body));
  return body.approval!;
}

/** Asserts that a request is still pending with no votes and that its call is still held. */
export async function assertStillHeld(
  gateway: RunningGateway,
  token: string,
  id: string,
  call: Tracked<unknown>,
  what: string,
): Promise<void> {
  const approval = await approvalOf(gateway, token, id);
  assert.equal(approval.state, 'pending', `${what}: the request must still be pending, is ${String(approval.state)}`);
  assert.deepEqual(approval.votes, [], `${what}: no vote may be recorded`);
  assert.equal(call.settled, false, `${what}: the call must still be held`);
}
