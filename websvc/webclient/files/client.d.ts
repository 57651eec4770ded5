// Types of Haven's browser client (/client.js). PROTOCOL.md, "Vera protocol".

/** Any JSON value: an item's data. */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

export type Code =
  | "OK" | "InvalidParameter" | "InternalError" | "Unavailable" | "Conflict"
  | "NotFound" | "Forbidden" | "SessionExpired" | "TooLarge" | "Unsupported";

export interface Item {
  /** The log index that created it: the item's id and a fencing token. */
  version: number;
  /** The log index of its last update. */
  modified: number;
  /** The public id of the session that holds it. */
  owner: string;
  data: JSONValue;
}

export interface ListState { items: Item[]; version: number }
export interface WriteResult extends ListState { item: Item }

export interface NotifyEvent {
  action: "notify";
  path: string;
  version: number;
  kind: "push" | "update" | "delete";
  item: Item;
}

/** The list as the watch (re)started: first, and after a reset. */
export interface StateEvent {
  kind: "state";
  path: string;
  items: Item[];
  version: number;
  reset: boolean;
}

export type WatchEvent = NotifyEvent | StateEvent;

export interface Hello {
  action: "hello";
  session: string;
  ttl_ms: number;
  node: string;
  leader: string;
  resumed: boolean;
}

export class HavenError extends Error {
  readonly code: Code;
}

export interface ConnectOptions {
  /** The session ttl to ask for (clamped by the server). */
  ttlMs?: number;
}

/** Connect to a node (ws(s):// or http(s):// URL), or to any of several. Default: this page's node. */
export function connect(url?: string | string[], options?: ConnectOptions): Client;

export class Client {
  /** Resolves with the first hello. */
  readonly ready: Promise<Hello>;
  readonly session: string | null;
  readonly node: string | null;
  readonly leader: string | null;
  readonly ttlMs: number;
  readonly connected: boolean;

  on(event: "hello" | "connected", fn: (hello: Hello) => void): () => void;
  on(event: "session", fn: (change: { previous: string; session: string }) => void): () => void;
  on(event: "disconnected", fn: (why: { code: number; reason: string }) => void): () => void;
  on(event: "notify", fn: (ev: NotifyEvent) => void): () => void;

  get(path: string, options?: { consistency?: "stale" }): Promise<ListState>;
  push(path: string, data: JSONValue, options?: { ifVersion?: number }): Promise<WriteResult>;
  update(path: string, item: Item | number, data: JSONValue, options?: { ifVersion?: number }): Promise<WriteResult>;
  delete(path: string, item: Item | number, options?: { ifVersion?: number }): Promise<ListState>;
  ping(): Promise<void>;
  watch(path: string, options?: { since?: number; onEvent?: (ev: WatchEvent) => void }): Watch;
  elect(path: string, data: JSONValue): Election;
  /** End the session (its items are removed) and stop reconnecting. */
  close(): Promise<void>;
}

export class Watch implements AsyncIterable<WatchEvent> {
  readonly path: string;
  /** The list as of `version`, kept current. */
  readonly items: Item[];
  readonly version: number | null;
  /** Resolves once the first registration was answered. */
  readonly ready: Promise<Watch>;
  on(event: "event", fn: (ev: WatchEvent) => void): () => void;
  on(event: "change", fn: (items: Item[]) => void): () => void;
  on(event: "error", fn: (err: HavenError) => void): () => void;
  [Symbol.asyncIterator](): AsyncIterator<WatchEvent>;
  close(): void;
}

export interface ElectionState {
  /** The item with the lowest version, or null if there is no candidate. */
  leader: Item | null;
  isLeader: boolean;
  /** This client's candidate item. */
  mine: Item | null;
  /** The fencing token while leading (mine.version), else null. */
  token: number | null;
}

export class Election implements AsyncIterable<ElectionState> {
  readonly path: string;
  readonly isLeader: boolean;
  readonly leader: Item | null;
  readonly mine: Item | null;
  /** Resolves once this client stands as a candidate. */
  readonly ready: Promise<Election>;
  onChange(fn: (state: ElectionState) => void): () => void;
  [Symbol.asyncIterator](): AsyncIterator<ElectionState>;
  /** Withdraw: delete this client's candidate item. Also done on pagehide. */
  resign(): Promise<void>;
}
