import type { Tool } from '@modelcontextprotocol/client';
import { evaluate, type CompiledPolicy, type RiskClass } from '../policy/index.js';
import { classifyTool, type RiskLevel } from './classify.js';
import { toolDigest, type Pin } from './tool-pins.js';

/** One row of `airlock tools` and `/api/tools`. */
export interface ToolRow {
  server: string;
  name: string;
  class: RiskClass;
  level: RiskLevel;
  evidence: string[];
  /** What the policy decides today for a call with no arguments, and the rule. */
  decision: string;
  rule: string;
  /** Whether the definition differs from the accepted one; null when the pins could not be read. */
  changed: boolean | null;
  accepted_by: string | null;
  accepted_at: string | null;
}

/**
 * The inventory of one server: each tool with its risk class, today's
 * decision for `grant`, and whether it changed since it was accepted
 * (`pins` undefined: unknown).
 */
export function toolRows(
  server: string,
  tools: readonly Tool[],
  policy: CompiledPolicy,
  pins: Map<string, Pin> | undefined,
  grant?: string,
): ToolRow[] {
  return tools.map((tool) => {
    const { class: risk, level, evidence } = classifyTool(tool);
    const pin = pins?.get(tool.name);
    const changed = pins === undefined ? null : pin?.digest !== toolDigest(tool);
    const decision = evaluate(policy, { tool: tool.name, grant, risk, changed: changed === true });
    return {
      server,
      name: tool.name,
      class: risk,
      level,
      evidence,
      decision: decision.action,
      rule: decision.rule,
      changed,
      accepted_by: pin?.accepted_by ?? null,
      accepted_at: pin ? new Date(pin.accepted_at).toISOString() : null,
    };
  });
}
