export { evaluate, isHidden, type Decision, type ToolCall } from './evaluate.js';
export { evaluatePrompt, evaluateResource, isPromptHidden, isResourceHidden, type AccessDecision } from './evaluate-access.js';
export { printableName, quoteName } from './quote-name.js';
export { compilePolicy, type CompiledPolicy, type Limit, type Approval } from './compile.js';
export { loadPolicyFile, compileSource } from './load-policy.js';
export { PolicySchema, ACTIONS, OPERATORS, RISK_CLASSES, SCOPES, type Action, type RiskClass, type PolicyDocument } from './schema.js';
export { PolicyWatcher, POLICY_POLL_MS, type PolicyWatcherOptions, type ReloadOutcome } from './watch-policy.js';
