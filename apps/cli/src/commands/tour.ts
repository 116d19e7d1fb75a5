/** `tour`: every pattern against the running stack; exit 0 only if every check held. */
import { Command, Option } from 'commander';
import { DEFAULT_DEADLINES } from '../clients.js';
import { resolveTargets } from '../config.js';
import type { CliContext, GlobalOptions } from '../context.js';
import { CliError } from '../errors.js';
import { runTour } from '../tour.js';

/** The `tour` command. */
export function tourCommand(ctx: CliContext): Command {
  return new Command('tour')
    .description('exercise every pattern against the running stack and check the outcomes')
    .addOption(new Option('--no-progress', 'no progress bar for the flights scan'))
    .action(async (options: { progress?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const result = await runTour(resolveTargets(globals, ctx.env), {
        out: ctx.out,
        progress: { enabled: options.progress !== false && ctx.errIsTTY, stream: ctx.errStream, outIsTerminal: ctx.outIsTTY },
        deadlines: { unaryMs: globals.deadlineMs ?? DEFAULT_DEADLINES.unaryMs, streamMs: globals.streamDeadlineMs ?? DEFAULT_DEADLINES.streamMs },
      });
      if (!result.ok) throw new CliError(`tour: ${result.steps.filter((s) => !s.ok).map((s) => s.pattern).join(', ')} failed`);
    });
}
