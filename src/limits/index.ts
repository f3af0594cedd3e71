export { LEASE_MS, RateLimiter, type Charge, type CounterState } from './rate-limiter.js';
export { counterKey, DEFAULT_PREFIX, type Caller } from './keys.js';
