export { classifyTool, RISK_LEVELS, type Classification, type RiskLevel } from './classify.js';
export { starterPolicy } from './starter-policy.js';
