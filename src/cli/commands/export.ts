/** strata export stepfunctions: the compaction tree as an Amazon States Language definition. */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { buildStateMachine } from '../../runners/index.js';
import { type CliContext, parseIntOption } from '../context.js';
import { registerExportChroma } from './interop.js';

export function registerExport(program: Command, ctx: () => CliContext): void {
  const exp = program.command('export').description('export Strata to other platforms');
  registerExportChroma(exp, ctx);
  exp
    .command('stepfunctions')
    .description(
      'write the compaction state machine (Amazon States Language) over the Strata Lambda handlers',
    )
    .option('--out <file>', 'write here instead of stdout')
    .option('--region <region>', 'AWS region of the Lambda functions', 'us-east-1')
    .option('--account <id>', 'AWS account id of the Lambda functions', '123456789012')
    .option(
      '--function-prefix <prefix>',
      'Lambda function names are <prefix>plan, <prefix>chunk, …',
      'strata-',
    )
    .option('--attempts <n>', 'attempts per step, the first included', parseIntOption('--attempts'), 3)
    .action(
      async (o: {
        out?: string;
        region: string;
        account: string;
        functionPrefix: string;
        attempts: number;
      }) => {
        const c = ctx();
        const definition = buildStateMachine({
          region: o.region,
          account: o.account,
          functionPrefix: o.functionPrefix,
          attempts: o.attempts,
        });
        const text = `${JSON.stringify(definition, null, 2)}\n`;
        if (!o.out) {
          process.stdout.write(text);
          return;
        }
        await writeFile(o.out, text);
        c.out({ written: o.out, states: Object.keys(definition.States).length }, () => `wrote ${o.out}`);
      },
    );
}
