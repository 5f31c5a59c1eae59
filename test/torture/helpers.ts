import { expect } from 'vitest';
import type { CampaignSummary } from '../../lab/torture/campaign.js';
import { formatSummary } from '../../lab/torture/report.js';

/** Every campaign test's first claim: no violation, every run completed. Returns the table for messages. */
export function expectCleanCampaign(summary: CampaignSummary): string {
  const table = formatSummary(summary);
  expect(summary.violations, table).toEqual([]);
  expect(summary.completionRate, table).toBe(1);
  return table;
}
