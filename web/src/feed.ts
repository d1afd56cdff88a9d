// One WebSocket to the feed bridge: requests with ids, subscriptions that survive
// reconnects (AUTH and SUBSCRIBE are sent again on every open), and a status for the UI.
//
// Connection states: connecting → open → (dropped) → connecting …; `closed` only after
// close(). A drop reconnects after a back-off (0.25 s doubling to 5 s; back to 0.25 s once a
// connection has lasted 5 s).

export type FeedState = "connecting" | "open" | "down" | "closed";
export type StreamHandler = (stream: string, data: Record<string, unknown>) => void;

interface Reply {
  id?: unknown;
  result?: unknown;
  error?: { code?: string; message?: string };
}

const PING_MS = 15_000;
const MAX_BACKOFF_MS = 5_000;
const STABLE_MS = 5_000;
const PER_SECOND = 8;
const BURST = 20;

export class Feed {
  state: FeedState = "connecting";
  connects = 0;
  private ws: WebSocket | null = null;
  private nextId = 1;
  private backoff = 250;
  private token = "";
  private readonly channels = new Set<string>();
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private pinger: number | undefined;
  private readonly outbox: string[] = [];
  private budget = BURST;
  private refilled = 0;
  private flusher: number | undefined;
  private lastHeard = 0;
  private openedAt = 0;

  constructor(
    private readonly url: string,
    private readonly onData: StreamHandler,
    private readonly onState: (state: FeedState, detail: string) => void,
    private readonly onOpen: () => void,
  ) {}

  start(): void {
    this.open();
    this.pinger = window.setInterval(() => this.ping(), PING_MS);
  }

  close(): void {
    this.setState("closed", "");
    window.clearInterval(this.pinger);
    this.ws?.close(1000);
  }

  /** Drops the connection as a network failure would (a test hook). */
  drop(): void {
    this.ws?.close(4000, "dropped by the page");
  }

  subscribe(channels: string[]): void {
    const fresh = channels.filter((c) => !this.channels.has(c));
    fresh.forEach((c) => this.channels.add(c));
    if (fresh.length) this.request("SUBSCRIBE", fresh);
  }

  unsubscribe(channels: string[]): void {
    const held = channels.filter((c) => this.channels.delete(c));
    if (held.length) this.request("UNSUBSCRIBE", held);
  }

  /** UNSUBSCRIBE then SUBSCRIBE: the channel starts again (depth: with a snapshot). */
  resubscribe(channel: string): void {
    this.request("UNSUBSCRIBE", [channel]);
    this.channels.add(channel);
    this.request("SUBSCRIBE", [channel]);
  }

  /** Opens (or, with "", closes) the private `user` channel. */
  authenticate(token: string): void {
    const had = this.token;
    this.token = token;
    if (token) this.sendAuth();
    else if (had) this.request("UNSUBSCRIBE", ["user"]);
  }

  private open(): void {
    this.setState("connecting", "");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.openedAt = Date.now();
      this.connects += 1;
      this.lastHeard = Date.now();
      this.setState("open", "");
      if (this.channels.size) this.request("SUBSCRIBE", [...this.channels]);
      if (this.token) this.sendAuth();
      this.onOpen();
    };
    ws.onmessage = (event) => this.receive(String(event.data));
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.pending.clear();
      this.outbox.length = 0; // everything is asked again on the next open
      if (this.state === "closed") return;
      const why = event.reason || `code ${event.code}`;
      this.setState("down", `connection lost (${why}); reconnecting`);
      // a connection that lasted starts the back-off again; one closed at once doubles it
      if (this.openedAt && Date.now() - this.openedAt > STABLE_MS) this.backoff = 250;
      this.openedAt = 0;
      window.setTimeout(() => this.open(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    };
  }

  private sendAuth(): void {
    this.request("AUTH", [this.token], (reply) => {
      if (reply.error) {
        this.onState(this.state, `user channel: ${reply.error.message ?? reply.error.code}`);
        return;
      }
      this.request("SUBSCRIBE", ["user"]);
    });
  }

  private receive(text: string): void {
    this.lastHeard = Date.now();
    let message: { stream?: string; data?: Record<string, unknown> } & Reply;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof message.stream === "string" && message.data) {
      this.onData(message.stream, message.data);
      return;
    }
    const waiting = typeof message.id === "number" ? this.pending.get(message.id) : undefined;
    if (waiting) {
      this.pending.delete(message.id as number);
      waiting(message);
    } else if (message.error) {
      console.warn("feed:", message.error.code, message.error.message);
    }
  }

  private request(method: string, params: unknown[], then?: (reply: Reply) => void): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return; // sent again on open
    const id = this.nextId++;
    if (then) this.pending.set(id, then);
    this.outbox.push(JSON.stringify({ method, params, id }));
    this.flush();
  }

  /** Sends what the request budget allows (the bridge refuses more than 10 a second, burst
   * 50; this stays under it), and comes back for the rest. */
  private flush(): void {
    const now = performance.now();
    this.budget = Math.min(BURST, this.budget + ((now - this.refilled) / 1000) * PER_SECOND);
    this.refilled = now;
    while (this.outbox.length && this.budget >= 1 && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(this.outbox.shift()!);
      this.budget -= 1;
    }
    if (this.outbox.length && this.flusher === undefined) {
      this.flusher = window.setTimeout(() => {
        this.flusher = undefined;
        this.flush();
      }, 1000 / PER_SECOND);
    }
  }

  private ping(): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastHeard > PING_MS * 2) {
      this.ws.close(4001, "no answer to PING");
      return;
    }
    this.request("PING", []);
  }

  private setState(state: FeedState, detail: string): void {
    this.state = state;
    this.onState(state, detail);
  }
}
