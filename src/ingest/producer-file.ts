/**
 * Producer files on disk: which format a file is in (NDJSON, OpenAI Batch API output, Arrow), and
 * reading one into plain, validated `Operation[]` in order, every error naming the file.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import {
  ErrorCodes,
  type ErrorContext,
  InvalidInputError,
  NotFoundError,
  UsageError,
} from '../core/errors.js';
import type { Operation } from '../core/types.js';
import { arrowKind } from './arrow-file.js';
import { parseArrowProducerFile } from './producer-arrow.js';
import { parseNdjson } from './producer-ndjson.js';
import { parseOpenAIBatch } from './producer-openai.js';
import { lines } from './producer-rows.js';

export type ProducerFormat = 'auto' | 'ndjson' | 'openai' | 'arrow';

export interface ReadProducerFileOptions {
  dimension: number;
  format?: ProducerFormat;
  /** OpenAI only: a documents NDJSON file joined on custom_id. */
  documents?: string;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

async function readBytes(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new NotFoundError(`no such file: ${path}`, { file: path });
    throw e;
  }
}

function utf8Text(bytes: Buffer, ctx: ErrorContext): string {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    throw new InvalidInputError(ErrorCodes.BAD_JSON, 'the file is not valid UTF-8', ctx);
  }
}

/** Which format a file is in, from its extension and first bytes / first line. */
export function detectProducerFormat(path: string, bytes: Uint8Array): Exclude<ProducerFormat, 'auto'> {
  const ext = extname(path).toLowerCase();
  if (ext === '.arrow' || ext === '.feather' || ext === '.ipc' || ext === '.arrows') return 'arrow';
  if (arrowKind(bytes) !== null) return 'arrow';
  const text = Buffer.from(bytes.subarray(0, 1 << 20)).toString('utf8');
  const first = lines(text).next();
  if (!first.done) {
    try {
      const o = JSON.parse(first.value.text) as Record<string, unknown> | null;
      if (o && typeof o === 'object' && 'custom_id' in o && 'response' in o) return 'openai';
    } catch {
      // a long first line cut at 1 MiB, or bad JSON: parseNdjson reports it with its line number
    }
  }
  return 'ndjson';
}

/** Reads a producer file into validated operations, in order. Context of every error names the file. */
export async function readProducerFile(path: string, opts: ReadProducerFileOptions): Promise<Operation[]> {
  const ctx: ErrorContext = { file: path };
  const bytes = await readBytes(path);
  const format = opts.format && opts.format !== 'auto' ? opts.format : detectProducerFormat(path, bytes);
  if (opts.documents !== undefined && format !== 'openai') {
    throw new UsageError(`a documents file can only be joined onto OpenAI batch output, not ${format}`, ctx);
  }
  switch (format) {
    case 'arrow':
      return parseArrowProducerFile(bytes, opts.dimension, ctx);
    case 'ndjson':
      return parseNdjson(utf8Text(bytes, ctx), opts.dimension, ctx);
    case 'openai': {
      const docs =
        opts.documents === undefined
          ? null
          : utf8Text(await readBytes(opts.documents), { ...ctx, documents: opts.documents });
      return parseOpenAIBatch(
        utf8Text(bytes, ctx),
        docs,
        opts.dimension,
        opts.documents === undefined ? ctx : { ...ctx, documents: opts.documents },
      );
    }
    default:
      throw new UsageError(`unknown producer file format ${JSON.stringify(format)}`, ctx);
  }
}
