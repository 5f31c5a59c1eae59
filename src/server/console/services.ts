import type { StepJournal } from '../../pipeline/step-journal.js';
import type { ConsoleEvents } from './events.js';
import type { MetricSeries } from './series.js';
import type { ViewCache } from './views.js';

/** What the Console's routes share, owned by StrataServer. */
export interface ConsoleServices {
  events: ConsoleEvents;
  series: MetricSeries;
  views: ViewCache;
  /** Journals the steps of the runs this server executes (and reports them to `events`). */
  journal: StepJournal;
  /** Lease time-to-live for actions that take the lease (rollback). */
  leaseTtlMs: number | undefined;
}
