/**
 * A small local interpreter for the subset of Amazon States Language that state-machine.ts uses (Task,
 * Map, Choice, Pass, Succeed, Fail; InputPath, Parameters/ItemSelector, ResultPath, OutputPath; Retry and
 * Catch; JSONPath `$.a.b[0]` and `$$.Map.Item.Value|Index`). It runs the handlers in-process in the order
 * the definition gives, so the exported definition is exercised before anyone deploys it. Not a general
 * Step Functions emulator: anything outside the subset is refused with a coded error.
 */
import { ErrorCodes, StrataError } from '../../src/core/errors.js';
import { delay } from '../../src/core/retry.js';
import { Semaphore } from '../../src/core/semaphore.js';
import type { AslDefinition, AslState } from '../../src/runners/lambda/state-machine.js';

type Json = unknown;
export type ResourceHandler = (input: Json) => Promise<Json>;

export interface TraceEntry {
  state: string;
  resource: string;
  attempt: number;
  ok: boolean;
  error?: string;
}

export interface InterpretOptions {
  /** Task Resource (ARN) → handler. */
  resources: Record<string, ResourceHandler>;
  /** Multiplies every Retry interval (tests use a small factor instead of real seconds; default 1). */
  retryIntervalScale?: number;
  /** Upper bound for Map iterations at once when MaxConcurrency is 0 (default 4). */
  mapConcurrency?: number;
}

export interface ExecutionResult {
  status: 'SUCCEEDED' | 'FAILED';
  output?: Json;
  error?: string;
  cause?: string;
  trace: TraceEntry[];
}

/** An error as States sees it: a name (matched by ErrorEquals) and a cause. */
class StatesError extends Error {
  constructor(
    readonly errorName: string,
    readonly causeText: string,
  ) {
    super(`${errorName}: ${causeText}`);
  }
}

interface Context {
  Map?: { Item: { Index: number; Value: Json } };
}

const unsupported = (what: string) =>
  new StrataError(ErrorCodes.USAGE, `the local interpreter does not support ${what}`, {
    interpreter: 'asl-local',
  });

function segmentsOf(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  const re = /\.([A-Za-z_][\w-]*)|\[(\d+)\]/gy;
  let m: RegExpExecArray | null;
  let i = 0;
  while (i < path.length) {
    re.lastIndex = i;
    m = re.exec(path);
    if (!m) throw unsupported(`the path expression ${path}`);
    out.push(m[1] !== undefined ? m[1] : Number(m[2]));
    i = re.lastIndex;
  }
  return out;
}

function getPath(path: string, input: Json, ctx: Context): Json {
  let root: Json;
  let rest: string;
  if (path.startsWith('$$')) {
    root = ctx;
    rest = path.slice(2);
  } else if (path.startsWith('$')) {
    root = input;
    rest = path.slice(1);
  } else throw unsupported(`the path ${path}`);
  let cur: Json = root;
  for (const seg of segmentsOf(rest)) {
    if (cur === null || typeof cur !== 'object' || !(seg in (cur as object))) {
      throw new StatesError('States.ParameterPathFailure', `path ${path} does not exist in the input`);
    }
    cur = (cur as Record<string | number, Json>)[seg];
  }
  return cur;
}

function setPath(input: Json, path: string | null | undefined, value: Json): Json {
  if (path === null) return input;
  if (path === undefined || path === '$') return value;
  if (!path.startsWith('$.')) throw unsupported(`the ResultPath ${path}`);
  const segs = segmentsOf(path.slice(1));
  const root: Record<string, Json> =
    input !== null && typeof input === 'object'
      ? (structuredClone(input as object) as Record<string, Json>)
      : {};
  let cur: Record<string | number, Json> = root;
  for (const [i, seg] of segs.entries()) {
    if (i === segs.length - 1) cur[seg] = value;
    else {
      const next = cur[seg];
      if (next === null || typeof next !== 'object') cur[seg] = {};
      cur = cur[seg] as Record<string | number, Json>;
    }
  }
  return root;
}

function evalTemplate(t: Json, input: Json, ctx: Context): Json {
  if (Array.isArray(t)) return t.map((v) => evalTemplate(v, input, ctx));
  if (t === null || typeof t !== 'object') return t;
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(t as Record<string, Json>)) {
    if (k.endsWith('.$')) {
      if (typeof v !== 'string') throw unsupported(`a non-string path in ${k}`);
      out[k.slice(0, -2)] = getPath(v, input, ctx);
    } else out[k] = evalTemplate(v, input, ctx);
  }
  return out;
}

function choose(rule: Record<string, Json>, input: Json, ctx: Context): boolean {
  if (Array.isArray(rule.And))
    return (rule.And as Array<Record<string, Json>>).every((r) => choose(r, input, ctx));
  if (Array.isArray(rule.Or))
    return (rule.Or as Array<Record<string, Json>>).some((r) => choose(r, input, ctx));
  if (rule.Not) return !choose(rule.Not as Record<string, Json>, input, ctx);
  const variable = rule.Variable as string;
  let v: Json;
  try {
    v = getPath(variable, input, ctx);
  } catch {
    v = undefined;
  }
  if ('IsPresent' in rule) return (v !== undefined) === rule.IsPresent;
  if ('BooleanEquals' in rule) return v === rule.BooleanEquals;
  if ('StringEquals' in rule) return v === rule.StringEquals;
  if ('NumericEquals' in rule) return v === rule.NumericEquals;
  if ('NumericGreaterThan' in rule) return typeof v === 'number' && v > (rule.NumericGreaterThan as number);
  throw unsupported(`the Choice rule ${JSON.stringify(rule)}`);
}

const matches = (errorEquals: string[], name: string) =>
  errorEquals.includes(name) ||
  errorEquals.includes('States.ALL') ||
  (errorEquals.includes('States.TaskFailed') && name !== 'States.Timeout');

class Execution {
  readonly trace: TraceEntry[] = [];
  constructor(readonly o: InterpretOptions) {}

  async run(
    machine: { StartAt: string; States: Record<string, AslState> },
    input: Json,
    ctx: Context,
  ): Promise<Json> {
    let name = machine.StartAt;
    let data = input;
    for (;;) {
      const state = machine.States[name];
      if (!state) throw unsupported(`a transition to the missing state ${name}`);
      const { output, next } = await this.#state(name, state, data, ctx);
      if (next === undefined) return output;
      name = next;
      data = output;
    }
  }

  async #state(name: string, s: AslState, raw: Json, ctx: Context): Promise<{ output: Json; next?: string }> {
    const type = s.Type as string;
    const next = s.End === true ? undefined : (s.Next as string | undefined);
    const input =
      s.InputPath === undefined ? raw : s.InputPath === null ? {} : getPath(s.InputPath as string, raw, ctx);
    const out = (result: Json) => {
      const merged = setPath(raw, s.ResultPath as string | null | undefined, result);
      return s.OutputPath === undefined ? merged : getPath(s.OutputPath as string, merged, ctx);
    };
    switch (type) {
      case 'Succeed':
        return { output: s.OutputPath === undefined ? input : getPath(s.OutputPath as string, input, ctx) };
      case 'Fail': {
        const error = s.ErrorPath !== undefined ? getPath(s.ErrorPath as string, input, ctx) : s.Error;
        const cause = s.CausePath !== undefined ? getPath(s.CausePath as string, input, ctx) : s.Cause;
        throw new StatesError(
          typeof error === 'string' ? error : 'States.Fail',
          typeof cause === 'string' ? cause : '',
        );
      }
      case 'Pass': {
        const result =
          s.Parameters !== undefined
            ? evalTemplate(s.Parameters, input, ctx)
            : 'Result' in s
              ? s.Result
              : input;
        return { output: out(result), next };
      }
      case 'Choice': {
        for (const rule of (s.Choices as Array<Record<string, Json>>) ?? []) {
          if (choose(rule, input, ctx)) return { output: input, next: rule.Next as string };
        }
        if (typeof s.Default === 'string') return { output: input, next: s.Default };
        throw new StatesError('States.NoChoiceMatched', `no choice of ${name} matched`);
      }
      case 'Task':
      case 'Map':
        try {
          const effective =
            type === 'Task' && s.Parameters !== undefined ? evalTemplate(s.Parameters, input, ctx) : input;
          const result =
            type === 'Task' ? await this.#task(name, s, effective) : await this.#map(s, effective, ctx);
          return { output: out(result), next };
        } catch (e) {
          if (!(e instanceof StatesError)) throw e;
          for (const c of (s.Catch as Array<Record<string, Json>>) ?? []) {
            if (matches(c.ErrorEquals as string[], e.errorName)) {
              const caught = setPath(raw, (c.ResultPath as string | null | undefined) ?? '$', {
                Error: e.errorName,
                Cause: e.causeText,
              });
              return { output: caught, next: c.Next as string };
            }
          }
          throw e;
        }
      default:
        throw unsupported(`the state type ${type}`);
    }
  }

  async #task(name: string, s: AslState, input: Json): Promise<Json> {
    const resource = s.Resource as string;
    const fn = this.o.resources[resource];
    if (!fn) throw unsupported(`the resource ${resource} (no handler registered)`);
    const retriers = ((s.Retry as Array<Record<string, Json>>) ?? []).map((r) => ({ r, used: 0 }));
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await fn(structuredClone(input));
        this.trace.push({ state: name, resource, attempt, ok: true });
        return result === undefined ? null : JSON.parse(JSON.stringify(result));
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        const errorName = err.name || 'Error';
        this.trace.push({ state: name, resource, attempt, ok: false, error: errorName });
        const retrier = retriers.find((x) => matches(x.r.ErrorEquals as string[], errorName));
        const max = (retrier?.r.MaxAttempts as number | undefined) ?? 3;
        if (!retrier || retrier.used >= max) {
          throw new StatesError(
            errorName,
            JSON.stringify({ errorType: errorName, errorMessage: err.message }),
          );
        }
        retrier.used++;
        const interval =
          ((retrier.r.IntervalSeconds as number | undefined) ?? 1) *
          ((retrier.r.BackoffRate as number | undefined) ?? 2) ** (retrier.used - 1);
        const capped = Math.min(
          interval,
          (retrier.r.MaxDelaySeconds as number | undefined) ?? Number.POSITIVE_INFINITY,
        );
        const jittered = retrier.r.JitterStrategy === 'FULL' ? Math.random() * capped : capped;
        await delay(jittered * 1000 * (this.o.retryIntervalScale ?? 1));
      }
    }
  }

  async #map(s: AslState, input: Json, ctx: Context): Promise<Json[]> {
    const items = s.ItemsPath === undefined ? input : getPath(s.ItemsPath as string, input, ctx);
    if (!Array.isArray(items)) throw new StatesError('States.Runtime', 'ItemsPath did not select an array');
    const processor = (s.ItemProcessor ?? s.Iterator) as
      | { StartAt: string; States: Record<string, AslState> }
      | undefined;
    if (!processor) throw unsupported('a Map state without ItemProcessor');
    const limit = (s.MaxConcurrency as number | undefined) || (this.o.mapConcurrency ?? 4);
    const slots = new Semaphore(limit);
    const settled = await Promise.allSettled(
      items.map((value, index) =>
        slots.with(async () => {
          const itemCtx: Context = { ...ctx, Map: { Item: { Index: index, Value: value } } };
          const selector = s.ItemSelector ?? s.Parameters;
          const itemInput = selector === undefined ? value : evalTemplate(selector, input, itemCtx);
          return this.run(processor, itemInput, itemCtx);
        }),
      ),
    );
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<Json>).value);
  }
}

/** Runs a definition to its end, in-process. */
export async function runStateMachine(
  definition: AslDefinition,
  input: Json,
  o: InterpretOptions,
): Promise<ExecutionResult> {
  const ex = new Execution(o);
  try {
    const output = await ex.run(definition, input, {});
    return { status: 'SUCCEEDED', output, trace: ex.trace };
  } catch (e) {
    if (e instanceof StatesError)
      return { status: 'FAILED', error: e.errorName, cause: e.causeText, trace: ex.trace };
    throw e;
  }
}
