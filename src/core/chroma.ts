/**
 * What Strata keeps of a collection's life in Chroma: Chroma's distance spaces (one to one with Strata's
 * metrics) and the identity of a collection made from a Chroma collection — created over the query server's
 * Chroma API, or read by `strata import chroma` — recorded in its config as `extra.chroma`.
 */
import type { Metric } from './types.js';

/** Chroma's name of a distance space (`hnsw:space`, `configuration.hnsw.space`). */
export type ChromaSpace = 'cosine' | 'l2' | 'ip';

export const SPACE_OF_METRIC: Readonly<Record<Metric, ChromaSpace>> = { cos: 'cosine', l2sq: 'l2', ip: 'ip' };
export const METRIC_OF_SPACE: Readonly<Record<ChromaSpace, Metric>> = { cosine: 'cos', l2: 'l2sq', ip: 'ip' };

/** A collection as Chroma names it (`CollectionConfig.extra.chroma`). */
export interface ChromaIdentity {
  /** Chroma's collection UUID. */
  id: string;
  tenant: string;
  database: string;
  name: string;
  metadata: Record<string, unknown> | null;
  /** Chroma's collection configuration (hnsw/spann/embedding_function), echoed back as configuration_json. */
  configuration: Record<string, unknown>;
  metric: Metric;
  createdAt: string;
}
