#!/usr/bin/env node
/** The `smolvm` command: a thin layer over the library. */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { registerHostCommands } from "./host-commands.js";
import { registerVmCommands } from "./vm-commands.js";
import { registerPortCommands } from "./port-commands.js";
import { EXIT, reportError } from "./output.js";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

const program = new Command("smolvm")
  .description("Run real microVMs as sandboxes on this Linux host.")
  .version(version)
  .showHelpAfterError()
  .exitOverride();

registerHostCommands(program);
registerVmCommands(program);
registerPortCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else {
    const code = reportError(e);
    if (!process.exitCode) process.exitCode = code;
  }
}
