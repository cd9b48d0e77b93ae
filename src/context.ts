/**
 * The shared context of one process: paths, the state store and the VMM backend. Passed around
 * explicitly; `defaultContext()` makes one from the environment on first use.
 */
import { resolvePaths, type SmolPaths } from "./paths.js";
import { StateStore } from "./state/store.js";
import { sweep } from "./state/sweep.js";
import { QemuVmm } from "./vmm/qemu.js";
import type { Vmm } from "./vmm/vmm.js";

export interface SmolContext {
  paths: SmolPaths;
  store: StateStore;
  vmm: Vmm;
  /** The start-up sweep of this context (see state/sweep.ts); awaited before the first operation. */
  swept?: Promise<unknown>;
}

const contexts = new Map<string, SmolContext>();

/** The context for the current environment (`SMOLVM_HOME` etc.), shared by every VM handle of this process. */
export function defaultContext(env: NodeJS.ProcessEnv = process.env): SmolContext {
  const paths = resolvePaths(env);
  let ctx = contexts.get(paths.db);
  if (!ctx) {
    ctx = { paths, store: new StateStore(paths.db), vmm: new QemuVmm() };
    ctx.swept = sweep(ctx.store).catch(() => undefined);
    contexts.set(paths.db, ctx);
  }
  return ctx;
}
