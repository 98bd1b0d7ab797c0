// The console's only way out: GraphQL over HTTP POST to /query, and
// subscriptions over a WebSocket to /query (graphql-transport-ws). The
// token lives in sessionStorage: it is this tab's, and goes when the tab
// closes.

const endpoint = document.getElementById('app')?.dataset.endpoint || '/query';
const TOKEN = 'paygraph.console.token';

export class ApiError extends Error {
  constructor(errors, status) {
    const first = errors[0] || {};
    super(first.message || `HTTP ${status}`);
    this.errors = errors;
    this.code = first.extensions?.code || (status ? `HTTP_${status}` : 'NETWORK');
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN) || '';
}

export function setToken(tok) {
  if (tok) sessionStorage.setItem(TOKEN, tok);
  else sessionStorage.removeItem(TOKEN);
}

// Listeners of a refused token (UNAUTHENTICATED): the app signs out.
const onUnauthenticated = new Set();
export function whenUnauthenticated(fn) {
  onUnauthenticated.add(fn);
}

// gql runs a query or mutation and returns its data; a response with
// errors throws an ApiError carrying the first error's code.
export async function gql(query, variables = {}) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const tok = token();
  if (tok) headers.Authorization = 'Bearer ' + tok;
  let resp;
  try {
    resp = await fetch(endpoint, { method: 'POST', headers, body: JSON.stringify({ query, variables }), credentials: 'same-origin' });
  } catch (e) {
    throw new ApiError([{ message: String(e.message || e), extensions: { code: 'NETWORK' } }]);
  }
  let body;
  try {
    body = await resp.json();
  } catch {
    throw new ApiError([], resp.status);
  }
  if (body.errors && body.errors.length > 0) {
    const err = new ApiError(body.errors, resp.status);
    if (err.code === 'UNAUTHENTICATED' && tok) onUnauthenticated.forEach((fn) => fn(err));
    throw err;
  }
  return body.data;
}

// Live is one WebSocket speaking graphql-transport-ws, reconnecting with
// backoff. subscribe() returns a function that stops the subscription;
// subscriptions are started again after a reconnect, and onState hears
// 'connecting', 'live' and 'offline' (a page reloads what it shows when
// the socket comes back, since events are not replayed).
export class Live {
  constructor(onState) {
    this.onState = onState || (() => {});
    this.subs = new Map();
    this.nextId = 1;
    this.ws = null;
    this.acked = false;
    this.backoff = 1000;
    this.stopped = true;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retry);
    if (this.ws) this.ws.close(1000, 'signed out');
    this.ws = null;
    this.subs.clear();
    this.onState('offline');
  }

  connect() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + endpoint;
    this.onState('connecting');
    const ws = new WebSocket(url, 'graphql-transport-ws');
    this.ws = ws;
    this.acked = false;
    ws.addEventListener('open', () => {
      ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: 'Bearer ' + token() } }));
    });
    ws.addEventListener('message', (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      switch (msg.type) {
        case 'connection_ack':
          this.acked = true;
          this.backoff = 1000;
          for (const [id, s] of this.subs) this.send(id, s);
          this.onState('live');
          break;
        case 'ping':
          ws.send(JSON.stringify({ type: 'pong' }));
          break;
        case 'next': {
          const s = this.subs.get(msg.id);
          if (s && msg.payload?.data) s.onNext(msg.payload.data);
          if (s && msg.payload?.errors) s.onError?.(new ApiError(msg.payload.errors));
          break;
        }
        case 'error': {
          const s = this.subs.get(msg.id);
          if (s) s.onError?.(new ApiError(Array.isArray(msg.payload) ? msg.payload : [msg.payload || {}]));
          break;
        }
        case 'complete':
          // The server ended a subscription we still want (its token
          // expired, the server is going away): start again on a new
          // socket, which checks the token afresh.
          if (this.subs.has(msg.id)) ws.close(1000, 'resubscribing');
          break;
      }
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onState('offline');
      if (this.stopped) return;
      this.retry = setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 30000);
    });
  }

  send(id, s) {
    this.ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query: s.query, variables: s.variables || {} } }));
  }

  subscribe(query, variables, onNext, onError) {
    const id = String(this.nextId++);
    const s = { query, variables, onNext, onError };
    this.subs.set(id, s);
    if (this.ws && this.acked) this.send(id, s);
    return () => {
      this.subs.delete(id);
      if (this.ws && this.acked) this.ws.send(JSON.stringify({ id, type: 'complete' }));
    };
  }
}
