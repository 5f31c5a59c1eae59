/**
 * One job in a child process of its own: `module` (an import.meta.url) is forked with `flag`, sent the job,
 * and answers with one message before exiting 0. Used by benches that must not share the event loop or the
 * heap of what they measure.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export function runChildJob<J, R>(module: string, flag: string, job: J, label: string): Promise<R> {
  const here = fileURLToPath(module);
  const child = fork(here, [flag], { execArgv: here.endsWith('.ts') ? ['--import', 'tsx'] : [] });
  return new Promise((resolve, reject) => {
    let result: R | undefined;
    child.once('message', (r: R) => {
      result = r;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (result !== undefined && code === 0) resolve(result);
      else reject(new Error(`${label} process exited with code ${code}`));
    });
    child.send(job as object);
  });
}
