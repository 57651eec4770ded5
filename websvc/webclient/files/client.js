// Haven's browser client: the Vera protocol (JSON over WebSocket) as an
// ES module, no build step. Types: /client.d.ts.
//
//   import { connect } from "/client.js";
//   const haven = connect();                       // this page's node
//   await haven.ready;
//   const { item } = await haven.push("/data/demo", { hello: "world" });
//   const w = haven.watch("/data/demo");
//   for await (const ev of w) console.log(ev.kind, ev.item);
//
// The session lives in the haven_session cookie (HttpOnly: this code never
// sees the token). When the socket drops, the client reconnects (to the
// next of `urls` if several are given), the cookie resumes the session, and
// every watch is registered again with `since` = the last version it saw,
// so no event is lost or repeated. If the session ended meanwhile, the
// server starts a new one ("resumed": false): the client emits "session"
// and carries on; the items of the old session are gone (their deletions
// reach the watches).

/** An answer with a code other than OK. */
export class HavenError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.name = "HavenError";
    this.code = code;
  }
}

function defaultURL() {
  const l = globalThis.location;
  return (l.protocol === "https:" ? "wss://" : "ws://") + l.host + "/ws";
}

function toWsURL(u) {
  if (u.startsWith("ws:") || u.startsWith("wss:")) return u;
  if (u.startsWith("http:") || u.startsWith("https:")) {
    const url = new URL(u);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (url.pathname === "/" || url.pathname === "") url.pathname = "/ws";
    return url.toString();
  }
  return u;
}

/**
 * Connect to Haven. `url` is a ws(s):// or http(s):// URL of a node, or a
 * list of them (the client moves to the next on failure); default: this
 * page's own node.
 */
export function connect(url, options = {}) {
  return new Client(url, options);
}

export class Client {
  constructor(url, options = {}) {
    const urls = url == null ? [defaultURL()] : Array.isArray(url) ? url : [url];
    this.urls = urls.map(toWsURL);
    this.options = options;
    this.session = null;
    this.node = null;
    this.leader = null;
    this.ttlMs = 0;
    this.connected = false;
    this._next = 0;
    this._urlIndex = 0;
    this._pending = new Map();
    this._watches = new Map();
    this._listeners = new Map();
    this._closed = false;
    this._backoff = 100;
    this.ready = new Promise((resolve) => (this._resolveReady = resolve));
    this._open();
  }

  /** Replace the list of nodes to connect to (used at the next reconnect). */
  setURLs(urls) {
    if (urls.length) this.urls = urls.map(toWsURL);
  }

  /** Listen for "hello", "session" (a new session replaced an ended one),
   * "connected", "disconnected", "notify", "error". Returns an unsubscribe. */
  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this._listeners.get(event).delete(fn);
  }

  _emit(event, value) {
    for (const fn of this._listeners.get(event) || []) {
      try { fn(value); } catch (e) { console.error(e); }
    }
  }

  _open() {
    const base = this.urls[this._urlIndex % this.urls.length];
    const u = new URL(base);
    u.searchParams.set("version", "1");
    if (this.options.ttlMs) u.searchParams.set("ttl_ms", String(this.options.ttlMs));
    let ws;
    try {
      ws = new WebSocket(u.toString());
    } catch (e) {
      this._retry();
      return;
    }
    this._ws = ws;
    ws.onmessage = (e) => this._onMessage(ws, e.data);
    ws.onclose = (e) => this._onClose(ws, e);
    ws.onerror = () => {}; // onclose follows with the details
  }

  _onMessage(ws, text) {
    let m;
    try { m = JSON.parse(text); } catch { return; }
    if (m.action === "hello") {
      const previous = this.session;
      this.session = m.session;
      this.node = m.node;
      this.leader = m.leader;
      this.ttlMs = m.ttl_ms;
      this.resumed = m.resumed;
      this.connected = true;
      this._backoff = 100;
      this._startPinging(ws);
      if (previous && previous !== m.session) this._emit("session", { previous, session: m.session });
      this._emit("hello", m);
      this._emit("connected", m);
      this._resolveReady(m);
      for (const w of this._watches.values()) w._register();
      return;
    }
    if (m.action === "notify") {
      const w = this._watches.get(m.path);
      if (w) w._event(m);
      this._emit("notify", m);
      return;
    }
    const p = this._pending.get(m.rid);
    if (!p) return;
    this._pending.delete(m.rid);
    if (m.code === "OK") p.resolve(m);
    else p.reject(new HavenError(m.code, m.message || m.code));
  }

  _onClose(ws, e) {
    if (ws !== this._ws) return;
    clearInterval(this._pinger);
    const was = this.connected;
    this.connected = false;
    // Answers that never came: their outcome is unknown (a write may still
    // have happened, as PROTOCOL.md says of timeouts).
    for (const p of this._pending.values()) p.reject(new HavenError("Unavailable", "the connection was lost"));
    this._pending.clear();
    if (was) this._emit("disconnected", { code: e.code, reason: e.reason });
    if (this._closed) return;
    if (!was) this._urlIndex++; // could not connect here: try the next node
    this._retry();
  }

  _retry() {
    if (this._closed) return;
    const delay = this._backoff * (0.5 + Math.random());
    this._backoff = Math.min(this._backoff * 2, 5000);
    setTimeout(() => this._open(), delay);
  }

  _startPinging(ws) {
    clearInterval(this._pinger);
    // The server keeps the session alive while the socket is open; these
    // pings find a socket that died without closing.
    const every = Math.max(this.ttlMs / 3, 200);
    this._pinger = setInterval(() => {
      const timer = setTimeout(() => ws.close(4000, "no answer to ping"), Math.max(this.ttlMs, 3000));
      this._request({ action: "ping" }).then(() => clearTimeout(timer), () => clearTimeout(timer));
    }, every);
  }

  _request(req) {
    if (!this.connected) return Promise.reject(new HavenError("Unavailable", "not connected"));
    const rid = "r" + ++this._next;
    return new Promise((resolve, reject) => {
      this._pending.set(rid, { resolve, reject });
      this._ws.send(JSON.stringify({ ...req, rid }));
    });
  }

  async _call(req) {
    if (!this.connected) await this._waitConnected();
    return this._request(req);
  }

  _waitConnected() {
    return new Promise((resolve) => {
      const off = this.on("connected", () => { off(); resolve(); });
    });
  }

  /** Read a list. consistency: "stale" reads this node's state at once. */
  async get(path, { consistency } = {}) {
    const a = await this._call({ action: "get", path, ...(consistency ? { consistency } : {}) });
    return { items: a.items, version: a.version };
  }

  /** Push an item; it lives as long as this session. */
  async push(path, data, { ifVersion } = {}) {
    const a = await this._call({ action: "push", path, data: data === undefined ? null : data, ...(ifVersion != null ? { if_version: ifVersion } : {}) });
    return { item: a.item, items: a.items, version: a.version };
  }

  async update(path, item, data, { ifVersion } = {}) {
    const a = await this._call({ action: "update", path, item: versionOf(item), data: data === undefined ? null : data, ...(ifVersion != null ? { if_version: ifVersion } : {}) });
    return { item: a.item, items: a.items, version: a.version };
  }

  async delete(path, item, { ifVersion } = {}) {
    const a = await this._call({ action: "delete", path, item: versionOf(item), ...(ifVersion != null ? { if_version: ifVersion } : {}) });
    return { items: a.items, version: a.version };
  }

  async ping() {
    await this._call({ action: "ping" });
  }

  /**
   * Watch a list: `watch.items` is kept current, events arrive through
   * `onEvent`, "change" listeners or `for await (const ev of watch)`.
   */
  watch(path, { since, onEvent } = {}) {
    let w = this._watches.get(path);
    if (!w) {
      w = new Watch(this, path, since);
      this._watches.set(path, w);
      if (this.connected) w._register();
    }
    if (onEvent) w.on("event", onEvent);
    return w;
  }

  /** Leader election on a list (PROTOCOL.md's recipe). */
  elect(path, data) {
    return new Election(this, path, data);
  }

  /** End the session now (its items go) and stop reconnecting. */
  async close() {
    if (this._closed) return;
    try {
      if (this.connected) await this._request({ action: "close" });
    } finally {
      this._closed = true;
      clearInterval(this._pinger);
      this._ws?.close(1000, "closed by the client");
    }
  }
}

function versionOf(item) {
  return typeof item === "object" && item !== null ? item.version : item;
}

/** One watched list: its items, its version, and its events. */
export class Watch {
  constructor(client, path, since) {
    this.client = client;
    this.path = path;
    this.items = [];
    this.version = since ?? null;
    this._listeners = new Map();
    this._queue = [];
    this._waiters = [];
    this._closed = false;
    this.ready = new Promise((resolve) => (this._resolveReady = resolve));
  }

  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this._listeners.get(event).delete(fn);
  }

  _emit(event, value) {
    for (const fn of this._listeners.get(event) || []) {
      try { fn(value); } catch (e) { console.error(e); }
    }
  }

  async _register() {
    const req = { action: "watch", path: this.path };
    if (this.version != null) req.since = this.version;
    let a;
    try {
      a = await this.client._request(req);
    } catch (e) {
      if (e.code !== "Unavailable") this._emit("error", e);
      else setTimeout(() => this.client.connected && !this._closed && this._register(), 500);
      return;
    }
    if (this._closed) return;
    if (this.version == null || a.reset) {
      this.items = a.items;
      this.version = a.version;
      this._push({ kind: "state", path: this.path, items: a.items, version: a.version, reset: !!a.reset });
    }
    this._resolveReady(this);
  }

  _event(ev) {
    if (this._closed || (this.version != null && ev.version < this.version)) return;
    this.version = ev.version;
    const i = this.items.findIndex((it) => it.version === ev.item.version);
    if (ev.kind === "push" && i < 0) {
      this.items = [...this.items, ev.item].sort((a, b) => a.version - b.version);
    } else if (ev.kind === "update" && i >= 0) {
      this.items = this.items.map((it, j) => (j === i ? ev.item : it));
    } else if (ev.kind === "delete" && i >= 0) {
      this.items = this.items.filter((_, j) => j !== i);
    }
    this._push(ev);
  }

  _push(ev) {
    this._emit("event", ev);
    this._emit("change", this.items);
    const waiter = this._waiters.shift();
    if (waiter) waiter({ value: ev, done: false });
    // Events queue only for an iterator that exists (a page that uses
    // callbacks alone keeps nothing), and a bounded number of them.
    else if (this._iterating && this._queue.length < 10000) this._queue.push(ev);
  }

  [Symbol.asyncIterator]() {
    this._iterating = true;
    return {
      next: () => {
        if (this._queue.length) return Promise.resolve({ value: this._queue.shift(), done: false });
        if (this._closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this._waiters.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** Stop watching. */
  close() {
    if (this._closed) return;
    this._closed = true;
    this.client._watches.delete(this.path);
    if (this.client.connected) this.client._request({ action: "unwatch", path: this.path }).catch(() => {});
    for (const w of this._waiters) w({ value: undefined, done: true });
    this._waiters = [];
  }
}

/**
 * Leader election: every candidate pushes an item to the list; the item
 * with the lowest version leads; its version is a fencing token that only
 * grows. If this client's session ends, it stands again with a new item.
 */
export class Election {
  constructor(client, path, data) {
    this.client = client;
    this.path = path;
    this.data = data;
    this.mine = null;
    this.leader = null;
    this.isLeader = false;
    this._listeners = new Set();
    this._waiters = [];
    this._changes = [];
    this._resigned = false;
    this.watch = client.watch(path);
    this.watch.on("change", () => this._recompute());
    client.on("session", () => {
      this.mine = null;
      this._stand();
    });
    this._onHide = () => this.resign();
    globalThis.addEventListener?.("pagehide", this._onHide);
    this.ready = this._stand();
  }

  async _stand() {
    if (this._resigned) return this;
    await this.watch.ready;
    for (;;) {
      try {
        const { item } = await this.client.push(this.path, this.data);
        this.mine = item;
        this._recompute();
        return this;
      } catch (e) {
        if (e.code !== "Unavailable") throw e;
        await new Promise((r) => setTimeout(r, 300));
        if (this._resigned) return this;
      }
    }
  }

  _recompute() {
    const leader = this.watch.items[0] || null;
    const mineLives = this.mine && this.watch.items.some((it) => it.version === this.mine.version);
    const isLeader = !!(leader && mineLives && leader.version === this.mine.version);
    if (leader?.version === this.leader?.version && isLeader === this.isLeader) return;
    this.leader = leader;
    this.isLeader = isLeader;
    const state = { leader, isLeader, mine: this.mine, token: isLeader ? this.mine.version : null };
    for (const fn of this._listeners) {
      try { fn(state); } catch (e) { console.error(e); }
    }
    const w = this._waiters.shift();
    if (w) w({ value: state, done: false });
    else if (this._iterating) {
      this._changes.push(state);
      if (this._changes.length > 100) this._changes.shift(); // the latest matter
    }
  }

  /** Call fn({leader, isLeader, mine, token}) on every change. */
  onChange(fn) {
    this._listeners.add(fn);
    return () => this._listeners.delete(fn);
  }

  [Symbol.asyncIterator]() {
    this._iterating = true;
    return {
      next: () => {
        if (this._changes.length) return Promise.resolve({ value: this._changes.shift(), done: false });
        if (this._resigned) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this._waiters.push(resolve));
      },
    };
  }

  /** Stop standing: delete this client's candidate item. */
  async resign() {
    this._resigned = true;
    globalThis.removeEventListener?.("pagehide", this._onHide);
    const mine = this.mine;
    this.mine = null;
    if (mine && this.client.connected) {
      await this.client.delete(this.path, mine).catch(() => {});
    }
    for (const w of this._waiters) w({ value: undefined, done: true });
    this._recompute();
  }
}
