/** `npm run bench`: every benchmark, each printing its figures and its target. */
import { benchApprovals, formatApprovalsBench } from './approvals.js';
import { benchAudit, benchCheckpoints, formatAuditBench, formatCheckpointBench } from './audit.js';
import { benchLoad, formatLoadBench } from './load.js';
import { formatPolicyBench } from './policy.js';
import { benchProxy, formatProxyBench } from './proxy.js';
import { benchRateLimit, formatRateLimitBench } from './rate-limit.js';
import { benchSlack, formatSlackBench } from './slack.js';

for (const line of formatPolicyBench()) console.log(line);

for (const line of formatProxyBench(await benchProxy())) console.log(line);

for (const line of formatRateLimitBench(await benchRateLimit())) console.log(line);

for (const line of formatApprovalsBench(await benchApprovals())) console.log(line);

for (const line of formatAuditBench(await benchAudit())) console.log(line);
for (const line of formatCheckpointBench(await benchCheckpoints())) console.log(line);

for (const line of formatSlackBench(await benchSlack())) console.log(line);

// Shorter than `npm run bench:load` (60 s, 200 sessions) so the whole bench stays reasonable.
for (const line of formatLoadBench(await benchLoad({ seconds: 15, sessions: 100 }))) console.log(line);
