import { z } from 'zod';
import { durationField } from '../config/index.js';

/**
 * The policy document: a superset of PolicyLayer's v1 format. Every field
 * PolicyLayer defines means the same here; `risk`, `on_tool_change`,
 * `approve_if`, `schema`, `approval` and `rate_limit` are Airlock's additions.
 */

export const ACTIONS = ['allow', 'deny', 'require_approval'] as const;
export const RISK_CLASSES = ['read', 'write', 'execute', 'destructive', 'unknown'] as const;
export const OPERATORS = [
  'eq',
  'neq',
  'gt',
  'gte',
  'lt',
  'lte',
  'in',
  'not_in',
  'contains',
  'starts_with',
  'ends_with',
  'regex',
  'exists',
  'not_exists',
] as const;
export const SCOPES = ['grant', 'session', 'global'] as const;

export type Action = (typeof ACTIONS)[number];
export type RiskClass = (typeof RISK_CLASSES)[number];
export type Operator = (typeof OPERATORS)[number];
export type LimitScope = (typeof SCOPES)[number];

const DAY_MS = 86_400_000;
/** Longer windows than this are almost certainly a unit mistake (and keep Redis keys around for a year). */
export const MAX_WINDOW_MS = 366 * DAY_MS;
export const MAX_APPROVAL_TIMEOUT_MS = 30 * DAY_MS;

export const ConditionSchema = z
  .object({
    path: z.string().min(1).meta({ description: 'Where to look: `args.a.b[0]`, `args["key.with.dots"]`, or `grant`.' }),
    op: z.enum(OPERATORS),
    value: z.unknown().optional(),
    flags: z
      .string()
      .regex(/^(?!.*(.).*\1)[imsu]*$/, 'regex flags are any of "i" (ignore case), "m", "s" and "u", each at most once')
      .optional()
      .meta({ description: 'Flags for `regex`: i (ignore case), m, s, u.' }),
    ignore_case: z.boolean().optional().meta({
      description:
        'Compare strings ignoring case (Unicode: "ß" matches "ss"), for eq, neq, in, not_in, contains, starts_with, ends_with. Default: exact.',
    }),
    normalize: z.enum(['nfkc']).optional().meta({
      description:
        'Compare strings after Unicode NFKC normalization (fullwidth "ｐｒｏｄ" matches "prod"), for the same operators as ignore_case. Default: exact.',
    }),
  })
  .strict();

/** Counter names end up inside Redis keys, so the characters Redis Cluster and our key layout use are refused. */
const counterName = z
  .string()
  .regex(
    /^[A-Za-z0-9_.-]{1,128}$/,
    'counter names use letters, digits, "_", "-" and "." only (no ":", "{", "}" or spaces), at most 128 characters',
  );

export const LimitSchema = z
  .object({
    counter: counterName,
    window: durationField(MAX_WINDOW_MS),
    max: z.int().min(0).max(1_000_000_000).meta({ description: 'Calls admitted in any span of `window`; 0 refuses every call.' }),
    scope: z.enum(SCOPES).default('grant'),
  })
  .strict();

export const RateLimitSchema = z
  .object({
    max: z.int().min(0).max(1_000_000_000),
    window: durationField(MAX_WINDOW_MS),
  })
  .strict()
  .meta({ description: 'Shorthand for one limit with counter `<tool>_rate` and scope `session`.' });

export const ApprovalSchema = z
  .object({
    timeout: durationField(MAX_APPROVAL_TIMEOUT_MS).optional(),
    approvers: z
      .array(z.string().min(1))
      .refine((list) => list.length > 0, 'list at least one approver, or leave the key out to use approvals.approvers from the config')
      .optional()
      .meta({
        description:
          "Who may decide this rule's held calls, in every channel: Slack user ids (U…), Slack user group ids (S…), admin names or people's names (config `people`). Absent: the config's approvals.approvers; with neither, only console admins decide.",
      }),
    min_approvals: z.int().min(1).max(10).default(1),
    channel: z.string().min(1).optional().meta({ description: 'Slack channel for this rule, instead of `slack.channel`.' }),
    pending: z.boolean().optional().meta({
      description:
        "Approval pending mode for this rule's held calls, whatever the grant: answered at once with [APPROVAL PENDING], and the same call repeated once approved runs under that approval (the config's approvals.pending.window).",
    }),
  })
  .strict();

export const ToolRuleSchema = z
  .object({
    action: z.enum(ACTIONS).default('allow'),
    reason: z.string().optional(),
    require: z.array(ConditionSchema).optional(),
    deny_if: z.array(ConditionSchema).optional(),
    approve_if: z.array(ConditionSchema).optional(),
    schema: z.record(z.string(), z.unknown()).optional().meta({ description: 'A JSON Schema (2020-12) the arguments must satisfy.' }),
    limits: z.array(LimitSchema).optional(),
    rate_limit: RateLimitSchema.optional(),
    approval: ApprovalSchema.optional(),
  })
  .strict();

/**
 * What agents may read besides tools: `resources` by URI glob, `prompts` by
 * name or glob. Precedence hide > deny > allow > default, as for tools; a
 * section left out (every PolicyLayer document) follows the policy's `default`.
 */
function accessSection(what: string, glob: string) {
  const globs = (verb: string) =>
    z
      .array(z.string())
      .optional()
      .meta({ description: `${what} ${verb}: ${glob}.` });
  return z
    .object({
      default: z
        .enum(['allow', 'deny'])
        .optional()
        .meta({ description: `What happens to ${what} no glob here matches; absent: the policy's \`default\`.` }),
      allow: globs('allowed'),
      deny: globs('listed but refused with a reason'),
      hide: globs('removed from their lists and answered as unknown'),
    })
    .strict();
}

export const ResourcesSchema = accessSection(
  'resources',
  'URI globs, `*` any characters but `/`, `**` any characters, everything else literal',
);
export const PromptsSchema = accessSection('prompts', 'names or globs, `*` any run of characters, `?` one character');

export const PolicySchema = z
  .object({
    $schema: z.string().optional(),
    // YAML reads an unquoted `version: 1` as a number; it means the same document version.
    version: z.literal(['1', 1]).meta({ description: 'Only "1" is recognised.' }),
    default: z.enum(['allow', 'deny']).meta({
      description:
        'What happens to tools that `tools` does not list, and to resources and prompts that their own section (or its `default`) does not decide.',
    }),
    description: z.string().optional(),
    hide: z
      .array(z.string())
      .optional()
      .meta({ description: 'Tool names or globs removed from tools/list and answered as unknown; "*" hides all.' }),
    all_tools: z
      .object({ limits: z.array(LimitSchema).optional() })
      .strict()
      .optional(),
    tools: z.record(z.string(), ToolRuleSchema).optional(),
    risk: z
      .object(
        Object.fromEntries(RISK_CLASSES.map((c) => [c, z.enum(ACTIONS).optional()])) as Record<
          RiskClass,
          z.ZodOptional<z.ZodEnum<{ allow: 'allow'; deny: 'deny'; require_approval: 'require_approval' }>>
        >,
      )
      .strict()
      .optional(),
    on_tool_change: z.enum(ACTIONS).default('require_approval'),
    resources: ResourcesSchema.optional(),
    prompts: PromptsSchema.optional(),
  })
  .strict();

export type PolicyDocument = z.infer<typeof PolicySchema>;
export type ToolRule = z.infer<typeof ToolRuleSchema>;
export type Condition = z.infer<typeof ConditionSchema>;
export type LimitSpec = z.infer<typeof LimitSchema>;
export type ApprovalSpec = z.infer<typeof ApprovalSchema>;
export type AccessSpec = z.infer<typeof ResourcesSchema>;
