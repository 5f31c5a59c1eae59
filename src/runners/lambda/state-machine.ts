/**
 * The compaction tree as an Amazon States Language definition, over the handlers in handlers.ts:
 *
 *   Plan → HasWork? → Groups (Map) ─┬─ Chunks (Map) → ChunkMerge      → FinalMerge → Publish → MergesNext?
 *                                   └─ GroupMerge  (GroupFailed on a caught failure)
 *   MergesNext? → PlanMerges → HasMerges? → Merges (Map: MergeStep, MergeFailed) → PublishMerges → Done
 *              (nothing published, merge 'none', or nothing to merge → Done)
 *   any unrecoverable failure → Abort (records the run, releases the lease) → Failed
 *
 * Every Task retries with jittered exponential backoff, except on `Strata.Permanent` (errors no retry can
 * fix), E_POINTER_CONFLICT (Publish sends the execution back to FinalMerge instead) and E_MERGE_OBSOLETE
 * (a merge step whose inputs are gone is dropped). The lease is released where the execution ends: by
 * Publish (no merge phase), PlanMerges (nothing to merge), PublishMerges, or Abort.
 */
import { PERMANENT_ERROR } from './errors.js';
import type { StepName } from './handlers.js';

export interface StateMachineOptions {
  region?: string;
  account?: string;
  /** Lambda function name prefix: functions are `${prefix}plan`, `${prefix}chunk`, … (default `strata-`). */
  functionPrefix?: string;
  /** Attempts per Task, the first included (default 3). */
  attempts?: number;
  /** Parallel chunk / group iterations (0 = as many as Step Functions allows; default 0). */
  maxConcurrency?: number;
  /** Seconds a single Task may run (default 900, the Lambda maximum). */
  taskTimeoutSeconds?: number;
}

export type AslState = Record<string, unknown>;
export interface AslDefinition {
  Comment?: string;
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
}

export function functionArn(step: StepName, o: StateMachineOptions = {}): string {
  return `arn:aws:lambda:${o.region ?? 'us-east-1'}:${o.account ?? '123456789012'}:function:${o.functionPrefix ?? 'strata-'}${step}`;
}

export function buildStateMachine(o: StateMachineOptions = {}): AslDefinition {
  const attempts = o.attempts ?? 3;
  const retry = (extraNoRetry: string[] = []) => [
    { ErrorEquals: [PERMANENT_ERROR, ...extraNoRetry], MaxAttempts: 0 },
    {
      ErrorEquals: ['States.ALL'],
      IntervalSeconds: 2,
      MaxAttempts: attempts - 1,
      BackoffRate: 2,
      MaxDelaySeconds: 60,
      JitterStrategy: 'FULL',
    },
  ];
  const task = (step: StepName, extra: AslState): AslState => ({
    Type: 'Task',
    Resource: functionArn(step, o),
    TimeoutSeconds: o.taskTimeoutSeconds ?? 900,
    Retry: retry(),
    ...extra,
  });
  const toAbort = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Abort' }];
  const maxConcurrency = o.maxConcurrency ?? 0;

  return {
    Comment:
      'Strata compaction: pending deltas → chunks → groups → final merge → fenced publish + ledger update → merges',
    StartAt: 'Plan',
    States: {
      Plan: task('plan', {
        Comment: 'take the lease, read the ledger, plan chunks and groups',
        Catch: toAbort,
        Next: 'HasWork',
      }),
      HasWork: {
        Type: 'Choice',
        Choices: [{ Variable: '$.empty', BooleanEquals: true, Next: 'NothingToDo' }],
        Default: 'Groups',
      },
      NothingToDo: { Type: 'Succeed' },
      Groups: {
        Type: 'Map',
        Comment: 'each group merges as soon as its own chunks are done',
        ItemsPath: '$.groups',
        MaxConcurrency: maxConcurrency,
        ItemSelector: {
          'storeSpec.$': '$.storeSpec',
          'collection.$': '$.collection',
          'run.$': '$.run',
          'group.$': '$$.Map.Item.Value',
        },
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: 'Chunks',
          States: {
            Chunks: {
              Type: 'Map',
              ItemsPath: '$.group.chunks',
              MaxConcurrency: maxConcurrency,
              ItemSelector: { 'storeSpec.$': '$.storeSpec', 'task.$': '$$.Map.Item.Value' },
              ItemProcessor: {
                ProcessorConfig: { Mode: 'INLINE' },
                StartAt: 'ChunkMerge',
                States: {
                  ChunkMerge: task('chunk', {
                    Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'ChunkFailed' }],
                    End: true,
                  }),
                  // re-raise the chunk's own error: its group fails with it (caught at Chunks → GroupFailed)
                  ChunkFailed: { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' },
                },
              },
              ResultPath: '$.chunkResults',
              Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'GroupFailed' }],
              Next: 'GroupMerge',
            },
            GroupMerge: task('group', {
              Parameters: {
                'storeSpec.$': '$.storeSpec',
                'collection.$': '$.collection',
                'run.$': '$.run',
                'index.$': '$.group.index',
                'chunkResults.$': '$.chunkResults',
              },
              Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'GroupFailed' }],
              End: true,
            }),
            GroupFailed: {
              Type: 'Pass',
              Comment: 'a failed group defers itself and every later group; the run goes on',
              Parameters: {
                ok: false,
                'index.$': '$.group.index',
                'error.$': '$.error.Error',
                'cause.$': '$.error.Cause',
              },
              End: true,
            },
          },
        },
        ResultPath: '$.groupResults',
        Catch: toAbort,
        Next: 'FinalMerge',
      },
      FinalMerge: task('final', {
        Comment: 'merge the longest prefix of succeeded groups onto the current snapshot; build the index',
        ResultPath: '$.final',
        Catch: toAbort,
        Next: 'Publish',
      }),
      Publish: task('publish', {
        Comment:
          'quarantine markers, fenced pointer swap (the ledger follows from it), run record, lease release',
        Retry: retry(['E_POINTER_CONFLICT']),
        ResultPath: '$.published',
        Catch: [
          { ErrorEquals: ['E_POINTER_CONFLICT'], ResultPath: '$.conflict', Next: 'FinalMerge' },
          ...toAbort,
        ],
        Next: 'MergesNext',
      }),
      MergesNext: {
        Type: 'Choice',
        Comment: 'merges follow a publish unless merge is none (else Publish released the lease)',
        Choices: [{ Variable: '$.published.mergesNext', BooleanEquals: true, Next: 'PlanMerges' }],
        Default: 'Done',
      },
      PlanMerges: task('planMerges', {
        Comment:
          'under the lease: the merges the policy asks for on the version just published, the merge run record (nothing to merge: lease released)',
        ResultPath: '$.merging',
        Catch: toAbort,
        Next: 'HasMerges',
      }),
      HasMerges: {
        Type: 'Choice',
        Choices: [{ Variable: '$.merging.count', NumericGreaterThan: 0, Next: 'Merges' }],
        Default: 'Done',
      },
      Merges: {
        Type: 'Map',
        Comment: 'every merge step at once; a failed step is dropped (its inputs stay as they are)',
        ItemsPath: '$.merging.tasks',
        MaxConcurrency: maxConcurrency,
        ItemSelector: { 'storeSpec.$': '$.storeSpec', 'task.$': '$$.Map.Item.Value' },
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: 'MergeStep',
          States: {
            MergeStep: task('merge', {
              Retry: retry(['E_MERGE_OBSOLETE']),
              Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'MergeFailed' }],
              End: true,
            }),
            MergeFailed: {
              Type: 'Pass',
              Parameters: {
                ok: false,
                'index.$': '$.task.index',
                'error.$': '$.error.Error',
                'cause.$': '$.error.Cause',
              },
              End: true,
            },
          },
        },
        ResultPath: '$.mergeResults',
        Catch: toAbort,
        Next: 'PublishMerges',
      },
      PublishMerges: task('publishMerges', {
        Comment:
          'one after the other, fenced: each rebased onto newer deletion vectors, an obsolete one dropped; merge run record, lease release',
        ResultPath: '$.published.merges',
        Catch: toAbort,
        Next: 'Done',
      }),
      Done: { Type: 'Succeed', OutputPath: '$.published' },
      Abort: task('abort', {
        Comment: 'record the failed run, release the lease',
        ResultPath: '$.aborted',
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.abortError', Next: 'Failed' }],
        Next: 'Failed',
      }),
      Failed: {
        Type: 'Fail',
        Error: 'Strata.RunFailed',
        Cause: 'the compaction run failed; see the run record',
      },
    },
  };
}
