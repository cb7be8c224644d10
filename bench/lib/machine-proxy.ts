/**
 * An HTTP proxy in front of the simulator, one per worker machine, so that the harness knows what each machine had
 * in flight at the moment it was killed or cut off: the simulator sees every machine through the same relays and
 * cannot tell them apart.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  /** ms since the epoch */
  startedAt: number;
  /** When the answer was fully passed on; undefined while in flight or when the connection broke first. */
  answeredAt?: number;
  status?: number;
}

export class MachineProxy {
  private readonly server: Server;
  readonly requests: ProxiedRequest[] = [];
  private open = 0;

  private constructor(
    readonly machine: string,
    private readonly target: number
  ) {
    this.server = createServer((req, res) => {
      const entry: ProxiedRequest = { startedAt: Date.now() };
      this.requests.push(entry);
      this.open++;
      let closed = false;
      const done = () => {
        if (closed) return;
        closed = true;
        this.open--;
      };
      const upstream = request(
        { host: '127.0.0.1', port: this.target, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          entry.status = answer.statusCode;
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.once('end', () => {
            entry.answeredAt = Date.now();
            done();
          });
        }
      );
      upstream.once('error', () => {
        done();
        res.destroy();
      });
      res.once('close', done);
      req.pipe(upstream);
    });
    // Keep-alive connections of a killed machine are torn down by the relays; nothing here needs to outlive them.
    this.server.keepAliveTimeout = 5000;
  }

  /** A proxy on a free port of 127.0.0.1 forwarding to 127.0.0.1:`target`. */
  static async start(machine: string, target: number): Promise<MachineProxy> {
    const proxy = new MachineProxy(machine, target);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', resolve);
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.open;
  }

  /**
   * What a crash of the machine now may cost twice: the requests in flight, plus those answered within the last
   * `recentMs` whose record may not be durable yet (the response log flushes on a timer and one PUT at a time).
   */
  atRisk(now: number, recentMs: number): number {
    let recent = 0;
    for (let k = this.requests.length - 1; k >= 0; k--) {
      const r = this.requests[k];
      if (r.answeredAt !== undefined && r.answeredAt >= now - recentMs && r.status === 200) recent++;
      if (r.startedAt < now - 60_000) break;
    }
    return this.open + recent;
  }

  /** Answers with status 200 passed on to the machine. */
  get answered(): number {
    return this.requests.filter((r) => r.status === 200 && r.answeredAt !== undefined).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
