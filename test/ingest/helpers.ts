import { expect } from 'vitest';
import { type ErrorCode, type ErrorContext, StrataError } from '../../src/core/errors.js';
import type { Operation, SequencedOperation } from '../../src/core/types.js';
import { DeltaKeys, type RawDeltaRow, writeRawDelta } from '../../src/ingest/index.js';

/** Runs `fn`, expects a StrataError with `code` whose context contains `ctx`; returns it. */
export function expectCode(fn: () => unknown, code: ErrorCode, ctx: ErrorContext = {}): StrataError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) throw new Error(`expected ${code}, nothing was thrown`);
  if (!(thrown instanceof StrataError)) throw thrown;
  expect(thrown.code, thrown.describe()).toBe(code);
  expect(thrown.context).toMatchObject(ctx);
  return thrown;
}

export async function expectCodeAsync(
  p: Promise<unknown>,
  code: ErrorCode,
  ctx: ErrorContext = {},
): Promise<StrataError> {
  let thrown: unknown;
  try {
    await p;
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) throw new Error(`expected ${code}, nothing was thrown`);
  if (!(thrown instanceof StrataError)) throw thrown;
  expect(thrown.code, thrown.describe()).toBe(code);
  expect(thrown.context).toMatchObject(ctx);
  return thrown;
}

export const vec = (...xs: number[]) => Float32Array.from(xs);

/** Embeddings as plain arrays of their bits, so comparisons see -0, NaN payloads and all. */
export function plain(ops: readonly (Operation | SequencedOperation)[]): unknown[] {
  return ops.map((o) =>
    'embedding' in o && o.embedding
      ? { ...o, embedding: Array.from(new Uint32Array(Float32Array.from(o.embedding).buffer)) }
      : o,
  );
}

export const DIM = 4;

export function deltaMeta(over: Record<string, string | undefined> = {}): Map<string, string> {
  const base: Record<string, string | undefined> = {
    [DeltaKeys.format]: 'strata.delta',
    [DeltaKeys.formatVersion]: '1',
    [DeltaKeys.collection]: 'c1',
    [DeltaKeys.dimension]: String(DIM),
    [DeltaKeys.metric]: 'cos',
    [DeltaKeys.producer]: 'forger',
    [DeltaKeys.seqStart]: '10',
    [DeltaKeys.seqEnd]: '12',
    [DeltaKeys.count]: '3',
    [DeltaKeys.createdAt]: '2026-01-01T00:00:00.000Z',
    ...over,
  };
  return new Map(Object.entries(base).filter((e): e is [string, string] => e[1] !== undefined));
}

export function upsertRow(
  id: string | Uint8Array,
  seq: number,
  over: Partial<RawDeltaRow> = {},
): RawDeltaRow {
  return {
    op: 'upsert',
    id,
    seq,
    embedding: vec(1, 2, 3, 4),
    document: null,
    documentSet: true,
    metadata: null,
    metadataSet: true,
    ...over,
  };
}

/** Three good rows, seq 10..12. */
export function goodRows(): RawDeltaRow[] {
  return [upsertRow('a', 10), upsertRow('b', 11), upsertRow('c', 12)];
}

/** A delta written from raw rows (content hash computed over what is written, so it verifies). */
export function forge(
  over: Record<string, string | undefined> = {},
  rows: RawDeltaRow[] = goodRows(),
  dimension = DIM,
): Uint8Array {
  return writeRawDelta(deltaMeta(over), rows, dimension).bytes;
}
