import type { LoadedConfig } from '../config/index.js';
import { errorMessage } from '../errors.js';
import { Gateway } from '../gateway/index.js';
import { hostCheck } from '../http/index.js';
import type { Check } from './doctor-check.js';

/**
 * The listeners as `airlock start` would open them (AIRLOCK_HOST and
 * AIRLOCK_PORT applied): an error where start would refuse (no grants and not
 * loopback), and a warning for each listener whose Host headers go unchecked:
 * one that is not loopback checks them only once `public_url` or
 * `listen.allowed_hosts` names it (see `hostCheck`), and until then a web page
 * could reach it by DNS rebinding wherever it is reachable from a browser (as
 * on 127.0.0.1 through a container's published port).
 */
export function listenChecks(config: LoadedConfig): Check[] {
  try {
    Gateway.checkExposure(config);
  } catch (err) {
    return [{ level: 'error', what: 'listen', detail: errorMessage(err) }];
  }
  const overridden = config.listen_overrides?.host;
  const listeners = [
    { key: overridden === undefined ? 'listen' : `listen (${overridden})`, host: config.listen.host },
    ...(config.metrics.listen ? [{ key: 'metrics.listen', host: config.metrics.listen.host }] : []),
  ];
  return listeners
    .filter(
      ({ host }) => hostCheck({ listenHost: host, publicUrl: config.public_url, allowedHosts: config.listen.allowed_hosts }) === undefined,
    )
    .map(({ key, host }) => ({
      level: 'warn',
      what: key,
      detail: `${host} is not loopback and neither public_url nor listen.allowed_hosts is set, so Host headers are not checked and a web page could reach Airlock by DNS rebinding; set public_url, or listen.allowed_hosts to the names agents use`,
    }));
}
