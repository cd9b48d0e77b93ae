/**
 * The state store: one SQLite database per user (WAL, so several processes read and write safely).
 * It records every VM and every port forward, so any process, and the CLI, can find them again.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { VMAlreadyExistsError, VMStateError } from "../errors.js";
import type { ResolvedConfig } from "../config.js";

/** Lifecycle states, as recorded and as reported. */
export type VMStatus = "created" | "running" | "stopped" | "error";

/** One VM as recorded on disk. */
export interface VMRecord {
  id: string;
  status: VMStatus;
  config: ResolvedConfig;
  /** The VM's folder (disk overlay, console log, QMP socket). */
  dir: string;
  pid?: number;
  pidStartTime?: number;
  /** Where the guest's SSH server is reached from the host. */
  sshHost?: string;
  sshPort?: number;
  /** Base64 wire blob of the guest host key smolvm generated and pins. */
  hostKey?: string;
  /** The network mode in use and its resources (JSON, owned by the net module). */
  network?: Record<string, unknown>;
  error?: string;
  createdAt: number;
  updatedAt: number;
}

/** One port forward as recorded: who made it (pid + start time) so a dead owner's forwards can be found. */
export interface ForwardRecord {
  vmId: string;
  hostPort: number;
  guestPort: number;
  transport: "nftables" | "ssh_tunnel";
  ownerPid?: number;
  ownerStartTime?: number;
  /** nftables: the rule handle. ssh_tunnel: whether the owner is a detached tunnel process. */
  detail?: { handle?: number; daemon?: boolean };
}

interface Row {
  id: string; status: string; config: string; dir: string; pid: number | null; pid_start: number | null;
  ssh_host: string | null; ssh_port: number | null; host_key: string | null; network: string | null;
  error: string | null; created_at: number; updated_at: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS vms (
  id TEXT PRIMARY KEY, status TEXT NOT NULL, config TEXT NOT NULL, dir TEXT NOT NULL,
  pid INTEGER, pid_start INTEGER, ssh_host TEXT, ssh_port INTEGER, host_key TEXT, network TEXT,
  error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS forwards (
  vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  host_port INTEGER NOT NULL, guest_port INTEGER NOT NULL, transport TEXT NOT NULL,
  owner_pid INTEGER, owner_start INTEGER, detail TEXT, created_at INTEGER NOT NULL,
  PRIMARY KEY (host_port)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS net_slots (
  slot INTEGER PRIMARY KEY, vm_id TEXT NOT NULL UNIQUE REFERENCES vms(id) ON DELETE CASCADE
);
`;

function fromRow(r: Row): VMRecord {
  return {
    id: r.id, status: r.status as VMStatus, config: JSON.parse(r.config) as ResolvedConfig, dir: r.dir,
    pid: r.pid ?? undefined, pidStartTime: r.pid_start ?? undefined, sshHost: r.ssh_host ?? undefined,
    sshPort: r.ssh_port ?? undefined, hostKey: r.host_key ?? undefined,
    network: r.network ? (JSON.parse(r.network) as Record<string, unknown>) : undefined,
    error: r.error ?? undefined, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

export class StateStore {
  readonly db: Database.Database;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new Database(path, { timeout: 10_000 });
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("foreign_keys = ON");
    this.db.exec(SCHEMA);
  }

  /** Records a new VM; a duplicate id is refused with `VMAlreadyExistsError`. */
  insertVm(rec: Pick<VMRecord, "id" | "status" | "config" | "dir">): void {
    const now = Date.now();
    try {
      this.db
        .prepare("INSERT INTO vms (id, status, config, dir, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
        .run(rec.id, rec.status, JSON.stringify(rec.config), rec.dir, now, now);
    } catch (e) {
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
        throw new VMAlreadyExistsError(`A VM named ${rec.id} already exists; pick another vmId or delete it with "smolvm delete ${rec.id}".`, { vmId: rec.id });
      }
      throw e;
    }
  }

  getVm(id: string): VMRecord | undefined {
    const r = this.db.prepare("SELECT * FROM vms WHERE id = ?").get(id) as Row | undefined;
    return r && fromRow(r);
  }

  listVms(): VMRecord[] {
    return (this.db.prepare("SELECT * FROM vms ORDER BY created_at, id").all() as Row[]).map(fromRow);
  }

  /** Updates the given fields; `null` clears one. */
  updateVm(id: string, fields: Partial<Omit<VMRecord, "id" | "createdAt" | "updatedAt">> | Record<string, unknown>): void {
    const columns: Record<string, string> = {
      status: "status", config: "config", dir: "dir", pid: "pid", pidStartTime: "pid_start", sshHost: "ssh_host",
      sshPort: "ssh_port", hostKey: "host_key", network: "network", error: "error",
    };
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [k, v] of Object.entries(fields)) {
      const col = columns[k];
      if (!col) throw new Error(`unknown VM field ${k}`);
      sets.push(`${col} = ?`);
      values.push(v === undefined || v === null ? null : typeof v === "object" ? JSON.stringify(v) : v);
    }
    sets.push("updated_at = ?");
    values.push(Date.now(), id);
    this.db.prepare(`UPDATE vms SET ${sets.join(", ")} WHERE id = ?`).run(...values);
  }

  deleteVm(id: string): void {
    this.db.prepare("DELETE FROM vms WHERE id = ?").run(id);
  }

  /** Records a forward; false when a row for that host port exists already (any VM, any process). */
  insertForward(f: ForwardRecord): boolean {
    try {
      this.db
        .prepare("INSERT INTO forwards (vm_id, host_port, guest_port, transport, owner_pid, owner_start, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .run(f.vmId, f.hostPort, f.guestPort, f.transport, f.ownerPid ?? null, f.ownerStartTime ?? null, f.detail ? JSON.stringify(f.detail) : null, Date.now());
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") return false;
      throw e;
    }
  }

  /** The forward recorded for a host port, whichever VM it belongs to. */
  forwardOnPort(hostPort: number): ForwardRecord | undefined {
    return this.selectForwards("WHERE host_port = ?", hostPort)[0];
  }

  /** Every recorded forward, of every VM. */
  allForwards(): ForwardRecord[] {
    return this.selectForwards("");
  }

  deleteForward(vmId: string, hostPort: number): void {
    this.db.prepare("DELETE FROM forwards WHERE vm_id = ? AND host_port = ?").run(vmId, hostPort);
  }

  listForwards(vmId: string): ForwardRecord[] {
    return this.selectForwards("WHERE vm_id = ?", vmId);
  }

  private selectForwards(where: string, ...args: unknown[]): ForwardRecord[] {
    const rows = this.db.prepare(`SELECT * FROM forwards ${where} ORDER BY created_at, host_port`).all(...args) as Array<{
      vm_id: string; host_port: number; guest_port: number; transport: string; owner_pid: number | null; owner_start: number | null; detail: string | null;
    }>;
    return rows.map((r) => ({
      vmId: r.vm_id, hostPort: r.host_port, guestPort: r.guest_port, transport: r.transport as ForwardRecord["transport"],
      ownerPid: r.owner_pid ?? undefined, ownerStartTime: r.owner_start ?? undefined,
      detail: r.detail ? (JSON.parse(r.detail) as ForwardRecord["detail"]) : undefined,
    }));
  }

  /** The VM's network slot (its /30 and interface names), allocating the lowest free one. */
  allocateNetSlot(vmId: string, max = 16383): number {
    const mine = this.db.prepare("SELECT slot FROM net_slots WHERE vm_id = ?").get(vmId) as { slot: number } | undefined;
    if (mine) return mine.slot;
    const taken = new Set((this.db.prepare("SELECT slot FROM net_slots").all() as Array<{ slot: number }>).map((r) => r.slot));
    for (let n = 0; n <= max; n++) {
      if (taken.has(n)) continue;
      try {
        this.db.prepare("INSERT INTO net_slots (slot, vm_id) VALUES (?, ?)").run(n, vmId);
        return n;
      } catch (e) {
        if ((e as { code?: string }).code !== "SQLITE_CONSTRAINT_PRIMARYKEY") throw e; // another process took it
      }
    }
    throw new VMStateError(`All ${max + 1} network slots are in use; delete some VMs with "smolvm delete".`, { vmId });
  }

  releaseNetSlot(vmId: string): void {
    this.db.prepare("DELETE FROM net_slots WHERE vm_id = ?").run(vmId);
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.db.prepare("DELETE FROM meta WHERE key = ?").run(key);
    else this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(key, value);
  }

  close(): void {
    this.db.close();
  }
}
