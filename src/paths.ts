/** Where smolvm keeps its files. Environment variables are read here, once. */
import { homedir } from "node:os";
import { join } from "node:path";

/** The directories smolvm uses for one user. */
export interface SmolPaths {
  /** Root of everything: `$SMOLVM_HOME`, else `$XDG_DATA_HOME/smolvm`, else `~/.local/share/smolvm`. */
  home: string;
  /** Guest image cache: `$SMOLVM_IMAGE_DIR`, else `<home>/images`. */
  images: string;
  /** One folder per VM, holding its disk overlay, console log and QMP socket. */
  vms: string;
  /** The per-user SSH key. */
  keys: string;
  /** The state database. */
  db: string;
}

export function resolvePaths(env: NodeJS.ProcessEnv = process.env): SmolPaths {
  const home =
    env.SMOLVM_HOME ||
    join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "smolvm");
  return {
    home,
    images: env.SMOLVM_IMAGE_DIR || join(home, "images"),
    vms: join(home, "vms"),
    keys: join(home, "keys"),
    db: join(home, "state.db"),
  };
}
