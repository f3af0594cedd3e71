import express, { type Request, type Router } from 'express';
import type { Logger } from 'pino';
import { ErrorCode } from '../errors.js';
import { cut } from './host-check.js';

/**
 * What Airlock tells an MCP client that went looking for OAuth. Clients
 * built on the MCP SDK (the Inspector, mcp-remote, and the SDK's own OAuth
 * client) start OAuth discovery on any 401, whatever the WWW-Authenticate
 * header says, and show the user the error of the step that failed: this
 * text is what they show. mcp-remote reads its error messages by substring:
 * one with "Unauthorized" in it makes it wait for a browser sign-in that
 * never comes, and "404", "Not Found" or "405" make it retry over SSE, so
 * none of those may appear here.
 */
const STATIC_TOKEN_MESSAGE =
  'This MCP gateway (Airlock) takes a static grant token, not OAuth: configure your MCP client to send the header ' +
  '"Authorization: Bearer <grant token>", with a token from the gateway\'s operator (a missing or wrong one is refused). ' +
  "Each client's syntax: docs/clients.md in Airlock's documentation.";

/** The body of every answer below, in the shape of an OAuth error (RFC 6749 §5.2, RFC 7591 §3.2.2), which OAuth clients parse. */
const oauthError = (error: string) => ({ error, error_description: STATIC_TOKEN_MESSAGE, airlock_code: ErrorCode.OAuthNotSupported });

/** The metadata documents an OAuth client looks for, each also under a suffix naming the resource or issuer path (RFC 8414 §3.1, RFC 9728 §3.1). */
const METADATA = ['oauth-protected-resource', 'oauth-authorization-server', 'openid-configuration'];

/**
 * The endpoints of OAuth discovery, answered so that a client which tries
 * OAuth shows the user how to authenticate instead. Airlock has no OAuth:
 * it publishes no metadata (RFC 9728 metadata naming no authorization
 * server changes nothing: clients then take the gateway itself for one),
 * and the answers are the same static text for every caller, naming no
 * grant, server or anything sent in the request. Every one is behind the
 * Host and Origin check like any route, and carries no CORS headers.
 */
export function oauthRefusalRoutes(logger: Logger): Router {
  const router = express.Router();
  const note = (req: Request) =>
    logger.info({ method: req.method, path: req.path }, 'OAuth request answered: this gateway takes static grant tokens');
  for (const name of METADATA) {
    // No metadata exists: 404, which discovery takes as "try the next place", until it falls back to /register.
    router.get(`/.well-known/${name}{/*rest}`, (req, res) => {
      logger.debug({ method: req.method, path: cut(req.path) }, 'OAuth metadata asked for: none is published');
      res.status(404).json(oauthError('not_found'));
    });
  }
  // Registration is where a client without metadata gives up; its error text is what the Inspector and mcp-remote print.
  router.post('/register', (req, res) => {
    note(req);
    res.status(400).json(oauthError('registration_not_supported'));
  });
  // Only a client that already holds a client id (a static one in its config) gets this far, in the user's browser.
  router.get('/authorize', (req, res) => {
    note(req);
    res.status(400).type('text/plain').set('X-Content-Type-Options', 'nosniff').send(`${STATIC_TOKEN_MESSAGE}\n`);
  });
  return router;
}
