import { ErrorCodes, type ErrorContext, StrataError } from '../../core/errors.js';

/**
 * Resolves with `p`, or rejects with E_QUEUE_UNAVAILABLE after `ms`: a Redis that cannot be reached makes
 * ioredis wait for it forever, which is right for a connected worker riding out a restart and wrong for a
 * command that should tell its user now.
 */
export async function withinQueueTimeout<T>(
  p: Promise<T>,
  ms: number,
  what: string,
  ctx: ErrorContext,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StrataError(ErrorCodes.QUEUE_UNAVAILABLE, `${what}: Redis did not answer within ${ms} ms`, ctx),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
