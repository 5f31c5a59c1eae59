/**
 * The step journal: one small JSON object per step of a run (runs/<run>/journal/<step>.json), written
 * as the step starts and again when it ends, with its timing, attempts, the worker that ran it and its
 * coded failure. The Console draws a run's timeline from it; nothing in the pipeline reads it back (it
 * is an operator record, like run.json, and GC removes it with the run's intermediates).
 *
 * It wraps any StepExecutor, so every runner (local processes, inline, BullMQ) gets one without knowing
 * about it. Journal writes never fail a step: a write that fails is dropped (the run goes on).
 */
import type { SerializedError } from '../core/errors.js';
import { serializeError, toStrataError } from '../core/errors.js';
import type { ObjectStore } from '../store/index.js';
import type { StepExecutor } from './executor.js';
import { readJson, writeJson } from './json-object.js';
import { Keys, stepName } from './layout.js';
import type { StepResult, StepTask } from './steps.js';

export interface StepRecord {
  collection: string;
  run: string;
  /** chunk-0003, group-0000, final (final.2 when the final merge was rebuilt on a moved pointer). */
  step: string;
  kind: string;
  index: number;
  status: 'running' | 'succeeded' | 'failed';
  /** When the pipeline handed the step to the runner (it may queue). */
  submittedAt: string;
  /** When the attempt that finished began (end minus its own run time); unknown while running. */
  startedAt?: string;
  finishedAt?: string;
  /** Run time of the attempt that finished, as the step measured it. */
  ms?: number;
  /** Attempts so far (retries by the runner included). */
  attempts: number;
  /** host:pid of the process that ran the finishing attempt. */
  worker?: string;
  /** Deltas (chunk) or input segments (group, final). */
  inputs: number;
  /** Records the step's output holds. */
  records?: number;
  build?: string;
  /** Deltas a chunk refused (quarantined). */
  rejected?: number;
  error?: SerializedError;
  /** Errors of earlier attempts that were retried. */
  retries?: SerializedError[];
}

/** A coded error without its stack: what an operator reads. */
function plain(e: unknown): SerializedError {
  const { stack: _stack, ...rest } = serializeError(toStrataError(e));
  return rest;
}

const indexOf = (task: StepTask) => (task.kind === 'final' ? 0 : task.index);

export const journalPrefix = (collection: string, run: string) =>
  `${Keys.runPrefix(collection, run)}journal/`;

export type StepListener = (r: StepRecord) => void;

/** Reads a run's journal (steps in submission order). */
export async function readStepJournal(
  store: ObjectStore,
  collection: string,
  run: string,
): Promise<StepRecord[]> {
  const objs = await store.list(journalPrefix(collection, run));
  const out: StepRecord[] = [];
  const width = 16;
  for (let i = 0; i < objs.length; i += width) {
    const got = await Promise.all(objs.slice(i, i + width).map((o) => readJson<StepRecord>(store, o.key)));
    for (const g of got) if (g) out.push(g.value);
  }
  return out.sort((a, b) => a.submittedAt.localeCompare(b.submittedAt) || a.step.localeCompare(b.step));
}

/**
 * Keeps the records of the steps in flight and writes each change (in order per step). `onStep` sees
 * every change as it happens (the query server pushes them to open Consoles).
 */
export class StepJournal {
  readonly #store: ObjectStore;
  readonly #onStep: StepListener | undefined;
  readonly #live = new Map<string, { rec: StepRecord; write: Promise<void> }>();
  readonly #finals = new Map<string, number>();

  constructor(store: ObjectStore, opts: { onStep?: StepListener } = {}) {
    this.#store = store;
    this.#onStep = opts.onStep;
  }

  /** An executor that journals every step the inner one runs. */
  wrap(inner: StepExecutor): StepExecutor {
    return {
      name: inner.name,
      concurrency: inner.concurrency,
      run: (task) => this.#run(inner, task),
      close: () => inner.close(),
    };
  }

  /** For runners that report retries (LocalPoolExecutor's onRetry): counts the attempt, keeps its error. */
  readonly onRetry = (task: StepTask, error: unknown, attempt: number): void => {
    const live = this.#live.get(this.#liveKey(task));
    if (!live) return;
    live.rec.attempts = attempt + 1;
    live.rec.retries = [...(live.rec.retries ?? []), plain(error)];
    this.#save(live);
  };

  #liveKey(task: StepTask): string {
    return `${task.collection}\n${task.run}\n${task.kind}\n${indexOf(task)}`;
  }

  #name(task: StepTask): string {
    if (task.kind !== 'final') return stepName(task.kind, task.index);
    const k = `${task.collection}\n${task.run}`;
    const n = (this.#finals.get(k) ?? 0) + 1;
    this.#finals.set(k, n);
    return n === 1 ? 'final' : `final.${n}`;
  }

  #save(live: { rec: StepRecord; write: Promise<void> }): Promise<void> {
    const snapshot: StepRecord = { ...live.rec };
    this.#onStep?.(snapshot);
    const key = `${journalPrefix(snapshot.collection, snapshot.run)}${snapshot.step}.json`;
    live.write = live.write.then(() =>
      writeJson(this.#store, key, snapshot).then(
        () => undefined,
        () => undefined,
      ),
    );
    return live.write;
  }

  async #run(inner: StepExecutor, task: StepTask): Promise<StepResult> {
    const rec: StepRecord = {
      collection: task.collection,
      run: task.run,
      step: this.#name(task),
      kind: task.kind,
      index: indexOf(task),
      status: 'running',
      submittedAt: new Date().toISOString(),
      attempts: 1,
      inputs:
        task.kind === 'chunk'
          ? task.deltas.length
          : task.kind === 'final'
            ? task.groups.length
            : task.inputs.length,
    };
    const live = { rec, write: Promise.resolve() };
    const key = this.#liveKey(task);
    this.#live.set(key, live);
    void this.#save(live);
    try {
      const r = await inner.run(task);
      const end = Date.now();
      Object.assign(rec, {
        status: 'succeeded',
        finishedAt: new Date(end).toISOString(),
        startedAt: new Date(end - r.ms).toISOString(),
        ms: r.ms,
        records: r.segment?.counts.records ?? 0,
        ...(r.worker ? { worker: r.worker } : {}),
        ...(r.build ? { build: r.build } : {}),
        ...(r.rejected.length ? { rejected: r.rejected.length } : {}),
      });
      await this.#save(live);
      return r;
    } catch (e) {
      const err = toStrataError(e);
      const attempts = Number(err.context.attempts);
      Object.assign(rec, {
        status: 'failed',
        finishedAt: new Date().toISOString(),
        error: plain(err),
        ...(Number.isInteger(attempts) && attempts > 0 ? { attempts } : {}),
        ...(typeof err.context.pid === 'number' ? { worker: `pid ${err.context.pid}` } : {}),
      });
      await this.#save(live);
      throw e;
    } finally {
      this.#live.delete(key);
    }
  }
}
