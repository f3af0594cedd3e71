export { classifyTool, RISK_LEVELS, type Classification, type RiskLevel } from './classify.js';
export { starterPolicy } from './starter-policy.js';
export { toolDigest, ToolPins, type Pin, type ToolChange } from './tool-pins.js';
export { toolRows, type ToolRow } from './report.js';
export { splitWords } from './words.js';
