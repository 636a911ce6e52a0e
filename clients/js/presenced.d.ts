// TypeScript declarations of presenced.js, the browser SDK of presenced
// (served at /sdk/presenced.d.ts next to /sdk/presenced.js). The frames are
// those of docs/protocol.md; fields the server may add are allowed.

export declare const PROTOCOL: "presenced.v1";

export type Availability = "available" | "away" | "dnd" | "xa";
export type State = "connecting" | "online" | "reconnecting" | "closed";
export type Transport = "websocket" | "longpoll";

export interface Activity { kind: string; detail?: string }

export interface PresenceInput {
  availability: Availability;
  status?: string;
  activity?: Activity;
  priority?: number;
}

export interface Frame { type: string; id?: string; seq?: number; [field: string]: any }

export interface SessionPresence {
  resource: string;
  availability: Availability | "unavailable";
  status?: string;
  activity?: Activity;
  priority?: number;
}

export interface Presence extends Frame {
  address: string;
  availability: Availability | "unavailable";
  status?: string;
  activity?: Activity;
  priority?: number;
  last_active?: string;
  last_seen?: string;
  sessions?: SessionPresence[];
}

export interface Subscription extends Frame {
  address: string;
  subscription: "none" | "to" | "from" | "both";
  pending_in?: boolean;
  pending_out?: boolean;
  preapproved?: boolean;
}

export interface Privacy { invisible: boolean; blocks: string[]; hidden: string[] }

export interface PersonalItem { item?: string; data: any; published?: string }

export interface Welcome extends Frame {
  type: "welcome";
  session: string;
  address: string;
  resumed: boolean;
  seq: number;
  grace: number;
  heartbeat: number;
}

export interface Reply extends Frame { type: "ok" | "pong" | "welcome"; delivered?: number; stored?: boolean }

export interface Message extends Frame { from: string; to: string; body: string; sent: string }

/** A message stored while no session took it (docs/offline.md). */
export interface OfflineMessage extends Message { type: "offline"; offline_id: number }

export interface HistoryMessage {
  archive: number;
  id?: string;
  from: string;
  to: string;
  with: string;
  outgoing: boolean;
  body: string;
  sent: string;
}

export interface HistoryQuery {
  with?: string;
  start?: string;
  end?: string;
  after?: number;
  before?: number;
  last?: boolean;
  max?: number;
}

export interface HistoryPage { messages: HistoryMessage[]; complete: boolean }

export type Affiliation = "owner" | "admin" | "member" | "outcast" | "none";

export interface Occupant {
  nick: string;
  address?: string;
  availability: Availability | "unavailable";
  status?: string;
  activity?: Activity;
  metadata?: Record<string, any>;
  affiliation: Affiliation;
  role: string;
  reason?: string;
}

export interface RoomMessage extends Frame { type: "room_message"; room: string; nick: string; body: string; sent: string }

/** A private message from the occupant nick, through the room. */
export interface RoomPrivate extends Frame { type: "room_private"; room: string; id?: string; nick: string; body: string; sent: string }

export interface RoomSnapshot extends Frame {
  type: "room_snapshot";
  room: string;
  created?: boolean;
  count: number;
  /** Absent for a room of another domain (joined by its address, room@service). */
  mode?: "open" | "members";
  self: Occupant;
  occupants: Occupant[];
  subject?: string;
  subject_by?: string;
  history?: RoomMessage[];
}

export interface RoomDiff extends Frame {
  type: "room_diff";
  room: string;
  joined?: Occupant[];
  left?: Occupant[];
  changed?: Occupant[];
  joined_count: number;
  left_count: number;
  count: number;
  listed: boolean;
}

export interface RoomSubject extends Frame { type: "room_subject"; room: string; subject: string; nick?: string }
export interface RoomLeft extends Frame { type: "room_left"; room: string; nick: string; reason: "left" | "kicked" | "banned" | "membership"; by?: string; why?: string }
export interface RoomInvite extends Frame { type: "room_invite"; room: string; from: string; reason?: string }

/** What the client knows of a room it is in (Presenced.rooms). */
export interface Room {
  room: string;
  self: Occupant;
  occupants: Map<string, Occupant>;
  count: number;
  mode?: "open" | "members";
  subject: string;
  subject_by: string;
  /** The snapshot's history, then the messages received (the last roomMessages). */
  messages: RoomMessage[];
}

export interface JoinOptions {
  presence?: PresenceInput;
  metadata?: Record<string, any>;
  history?: number;
  /** The app's room token, where the app authorizes who joins its rooms (docs/rooms.md). */
  room_token?: string;
}

export interface StateDetail { state: State; reason: string; code?: string }

export interface Options {
  /** The server's URL (this page's origin by default). */
  url?: string;
  /** An access token, sent in the hello frame (or, over long-polling, the Authorization header). */
  token?: string;
  device?: string;
  presence?: PresenceInput;
  accepts?: string[];
  topics?: string[];
  /** Be rung by calls. */
  calls?: boolean;
  autoReconnect?: boolean;
  helloTimeout?: number;
  /** "auto" (default): WebSocket, falling back to long-polling (needs a token) when one cannot be opened. */
  transport?: "auto" | Transport;
  /** Seconds a long-poll is held (0–55, default 25). */
  pollWait?: number;
  /** Acknowledge offline messages once their event was dispatched (default true). */
  ackOffline?: boolean;
  /** Room messages kept per room in Presenced.rooms (default 100). */
  roomMessages?: number;
}

export interface PresencedEventMap {
  state: CustomEvent<StateDetail>;
  transport: CustomEvent<{ transport: Transport }>;
  welcome: CustomEvent<Welcome>;
  close: CustomEvent<{}>;
  change: CustomEvent<Frame>;
  snapshot: CustomEvent<Frame>;
  presence: CustomEvent<Presence>;
  subscription: CustomEvent<Subscription>;
  privacy: CustomEvent<Frame & Privacy>;
  personal: CustomEvent<Frame>;
  contact: CustomEvent<Frame>;
  message: CustomEvent<Message>;
  signal: CustomEvent<Frame>;
  offline: CustomEvent<OfflineMessage>;
  goaway: CustomEvent<Frame>;
  call: CustomEvent<Frame>;
  incoming: CustomEvent<Call>;
  room_snapshot: CustomEvent<RoomSnapshot>;
  room_diff: CustomEvent<RoomDiff>;
  room_message: CustomEvent<RoomMessage>;
  room_private: CustomEvent<RoomPrivate>;
  room_subject: CustomEvent<RoomSubject>;
  room_left: CustomEvent<RoomLeft>;
  room_invite: CustomEvent<RoomInvite>;
}

export declare class PresencedError extends Error {
  constructor(code: string, message: string);
  code: string;
}

export interface NotificationOptions {
  /** The URL of the app's service worker (required). */
  serviceWorker: string;
  scope?: string;
  /** presenced's URL (this page's origin by default). */
  server?: string;
  /** A user's token (else the page's session cookie); an app's token is refused. */
  token?: string;
  device?: string;
}

export declare class Presenced extends EventTarget {
  constructor(options?: Options);
  options: Required<Pick<Options, "url" | "device" | "autoReconnect" | "helloTimeout" | "transport" | "pollWait">> & Options;
  state: State;
  transport: Transport;
  session: string | null;
  address: string | null;
  self: Presence | null;
  presence: Map<string, Presence>;
  subscriptions: Map<string, Subscription>;
  privacy: Privacy;
  personal: Map<string, Map<string, PersonalItem>>;
  rooms: Map<string, Room>;
  calls: Map<string, Call>;
  lastSeq: number;

  connect(): Promise<Welcome>;
  close(): Promise<void>;
  request(type: string, fields?: Record<string, any>): Promise<Reply>;

  setPresence(p: PresenceInput): Promise<Reply>;
  subscribe(address: string): Promise<Reply>;
  approve(address: string): Promise<Reply>;
  deny(address: string): Promise<Reply>;
  unsubscribe(address: string): Promise<Reply>;
  remove(address: string): Promise<Reply>;
  block(address: string): Promise<Reply>;
  unblock(address: string): Promise<Reply>;
  hide(address: string): Promise<Reply>;
  unhide(address: string): Promise<Reply>;
  setInvisible(invisible: boolean): Promise<Reply>;
  message(to: string, body: string): Promise<Reply>;
  signal(to: string, data: any): Promise<Reply>;
  publish(topic: string, data: any): Promise<Reply>;
  retract(topic: string): Promise<Reply>;

  ackOffline(ids: number[]): Promise<Reply>;
  history(query?: HistoryQuery): Promise<HistoryPage>;

  join(room: string, nick: string, options?: JoinOptions): Promise<Reply>;
  leave(room: string): Promise<Reply>;
  sendToRoom(room: string, body: string): Promise<Reply>;
  /** A private message to the occupant nick, through the room. */
  sendPrivate(room: string, nick: string, body: string): Promise<Reply>;
  setSubject(room: string, subject: string): Promise<Reply>;
  kick(room: string, nick: string, reason?: string): Promise<Reply>;
  ban(room: string, who: string | { address: string }, reason?: string): Promise<Reply>;
  setAffiliation(room: string, who: string | { address: string }, affiliation: Affiliation, reason?: string): Promise<Reply>;
  setRoomMode(room: string, mode: "open" | "members"): Promise<Reply>;
  invite(room: string, to: string, reason?: string): Promise<Reply>;

  call(to: string, data?: any): Promise<Call>;
  enableNotifications(options: NotificationOptions): Promise<{ id: string; [field: string]: any }>;

  addEventListener<K extends keyof PresencedEventMap>(type: K, listener: (ev: PresencedEventMap[K]) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof PresencedEventMap>(type: K, listener: (ev: PresencedEventMap[K]) => any, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

export interface CallEventMap {
  ringing: CustomEvent<{ from: string }>;
  answered: CustomEvent<{ from: string; data?: any }>;
  signal: CustomEvent<{ data: any; from: string }>;
  ended: CustomEvent<{ reason: string; from: string; local: boolean }>;
}

export declare class Call extends EventTarget {
  id: string;
  peer: string;
  direction: "outgoing" | "incoming";
  data: any;
  state: "ringing" | "answered" | "ended";
  reason: string;
  ringing: string[];
  rung: number;
  answer(data?: any): Promise<void>;
  reject(busy?: boolean): Promise<void>;
  cancel(): Promise<void>;
  hangup(): Promise<void>;
  signal(data: any): Promise<Reply>;
  addEventListener<K extends keyof CallEventMap>(type: K, listener: (ev: CallEventMap[K]) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}

/** The long-polling transport behind the WebSocket interface (used by Presenced). */
export declare class PollSocket {
  constructor(url: string, token: string, wait?: number);
  readonly readyState: number;
  session: string | null;
  seq: number;
  send(data: string): void;
  close(): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: string }) => void) | null;
  onclose: ((ev: any) => void) | null;
}

export interface PickOptions { server?: string; clientId: string; multiple?: boolean; subject?: string; features?: string }
export interface PickedContact { handle: string; name?: string }
export declare function pickContacts(options: PickOptions): Promise<PickedContact[]>;

export declare function enableNotifications(options: NotificationOptions): Promise<{ id: string; [field: string]: any }>;

export interface SignInOptions {
  /** The app's client ID (required). */
  clientId: string;
  /** One of the app's registered redirect URIs (this page's URL without query by default). */
  redirectUri?: string;
  /** The scopes asked for, a string or a list; "openid" is always asked. */
  scope?: string | string[];
  /** presenced's URL (this page's origin by default). */
  server?: string;
}
export interface SignedIn {
  access_token: string;
  id_token?: string;
  scope?: string;
  /** When the access token expires, in ms since the epoch. */
  expires_at: number;
  /** The ID token's sub: the user's handle in this app. */
  sub?: string;
}
/** Starts the code flow with PKCE: the page leaves for presenced's consent page. */
export declare function signIn(options: SignInOptions): Promise<void>;
/** On the redirect URI: trades the code for tokens; else the kept token if still valid, or null. */
export declare function finishSignIn(options: { clientId: string }): Promise<SignedIn | null>;
/** Forgets the kept token (does not revoke it). */
export declare function signOut(options: { clientId: string }): void;
