/** The campaign's final table (Markdown, so it pastes into an issue note) and its progress display. */
import type { CampaignSummary } from './campaign.js';
import type { RunResult } from './run.js';

const fmtMs = (ms: number) =>
  ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`;

export function reproduceCommand(seed: number, run: number, flags = ''): string {
  return `npm run torture -- --seed ${seed} --run ${run}${flags ? ` ${flags}` : ''}`;
}

export function formatSummary(s: CampaignSummary): string {
  const lines: string[] = [];
  lines.push(`| | |`, `| --- | --- |`);
  lines.push(`| seed | ${s.seed} |`);
  lines.push(`| store backend | ${s.backend} |`);
  lines.push(`| runs | ${s.runs} |`);
  lines.push(`| completion rate | ${(s.completionRate * 100).toFixed(1)}% (${s.completed}/${s.runs}) |`);
  lines.push(`| invariant violations | ${s.violations.length} |`);
  lines.push(`| snapshots opened by concurrent readers | ${s.readerOpens} |`);
  if (s.httpAnswers > 0) lines.push(`| answers of the query server checked over HTTP | ${s.httpAnswers} |`);
  if (s.readerUnavailable > 0)
    lines.push(
      `| reads refused while the store was down (reader opens, HTTP 503) | ${s.readerUnavailable} |`,
    );
  lines.push(
    `| time | ${fmtMs(s.ms)} (slowest runs: ${s.slowest.map(([r, ms]) => `#${r} ${fmtMs(ms)}`).join(', ')}) |`,
  );
  lines.push('', '| episode | runs |', '| --- | ---: |');
  for (const [k, v] of Object.entries(s.episodes).sort()) lines.push(`| ${k} | ${v} |`);
  lines.push('', '| fault injected | count |', '| --- | ---: |');
  for (const [k, v] of Object.entries(s.faults).sort()) lines.push(`| ${k} | ${v} |`);
  const classes = Object.entries(s.badClasses).sort();
  if (classes.length > 0) {
    lines.push('', `bad delta classes written: ${classes.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  if (s.violations.length > 0) {
    lines.push('', '| run | step | invariant | detail |', '| ---: | --- | --- | --- |');
    for (const v of s.violations.slice(0, 50)) {
      lines.push(
        `| ${v.run} | ${v.step} | ${v.invariant} | ${v.detail.replaceAll('|', '\\|').replaceAll('\n', ' ')} |`,
      );
    }
    if (s.violations.length > 50) lines.push(`| … | | | ${s.violations.length - 50} more |`);
    lines.push('', 'reproduce:');
    for (const run of [...new Set(s.violations.map((v) => v.run).filter((r) => r >= 0))].slice(0, 10)) {
      const first = s.violations.find((v) => v.run === run)!;
      lines.push(
        `  ${reproduceCommand(s.seed, run, s.replayFlags)}    # first violation at step "${first.step}"`,
      );
    }
  }
  return lines.join('\n');
}

/** A one-line bar on a TTY; one log line per run otherwise. */
export class CampaignProgress {
  #t0 = Date.now();
  #violations = 0;
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly tty = stream.isTTY === true,
  ) {}

  run(r: RunResult, done: number, total: number): void {
    this.#violations += r.violations.length;
    const elapsed = Date.now() - this.#t0;
    const eta = done > 0 ? (elapsed / done) * (total - done) : 0;
    if (this.tty) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      this.stream.write(
        `\r\x1b[2Ktorture [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} runs, ${this.#violations} violations, ${fmtMs(elapsed)} (eta ${fmtMs(eta)})`,
      );
      if (r.violations.length > 0) {
        this.stream.write(`\n  run ${r.run}: ${r.violations[0]!.invariant} at "${r.violations[0]!.step}"\n`);
      }
      if (done === total) this.stream.write('\n');
    } else {
      const eps = Object.keys(r.episodes).join('+');
      this.stream.write(
        `torture: run ${r.run} (${done}/${total}) ${r.completed ? 'completed' : 'NOT completed'}, ${r.violations.length} violations, ${eps}, ${fmtMs(r.ms)}${r.violations.length ? ` — first: ${r.violations[0]!.invariant} at "${r.violations[0]!.step}": ${r.violations[0]!.detail.slice(0, 300)}` : ''}\n`,
      );
    }
  }
}
