/**
 * The demo workload: receipt-line embeddings shaped like the seed system's data, deterministic given a seed.
 *
 * - ids: `IMAGE#<uuid>#RECEIPT#00001#LINE#00003` — each image has 1–3 receipts, each receipt 2–10 lines.
 * - vectors: clustered Gaussians (unit-norm centres + noise), normalised to unit length.
 * - documents: fake receipt lines ("2 x COFFEE 3.50", "TOTAL 23.45").
 * - metadata: merchant, image_id (string), receipt_id, line_id, confidence (numbers), is_total (boolean),
 *   category (20 values, selectivities from 0.1 % to 28 %), bucket (integer 0..999, uniform: `bucket < k`
 *   selects k/1000 of the records).
 *
 * Record i depends only on (seed, dimension, clusters, noise, i): `offset` lets callers generate any slice.
 */

import { fmix32, hashSeed, normalTable, type Rng, rng } from '../core/random.js';
import type { Metadata, MetadataPatch, Operation, VectorRecord } from '../core/types.js';

export interface GenerateRecordsOptions {
  seed: number;
  count: number;
  dimension: number;
  /** Number of cluster centres (default 128). */
  clusters?: number;
  /** Index of the first record (default 0). */
  offset?: number;
  /** Noise norm relative to the (unit) centre (default 0.6: records have cosine ≈ 0.85 to their centre). */
  noise?: number;
}

export interface GenerateChangesOptions {
  seed: number;
  existingIds: readonly string[];
  count: number;
  dimension: number;
  /** Distinguishes batches: the same (seed, round) gives the same changes; new ids never repeat across rounds. */
  round: number;
  clusters?: number;
  noise?: number;
  /** Relative weights of the operation kinds (defaults: upsert 0.4, reupsert 0.25, update 0.2, delete 0.15). */
  mix?: Partial<ChangeMix>;
}

export interface ChangeMix {
  /** Upsert of a new id. */
  upsert: number;
  /** Upsert of an existing id (new vector, document and metadata). */
  reupsert: number;
  /** Document and/or metadata update of an existing id. */
  update: number;
  /** Delete of an existing id. */
  delete: number;
}

/** Category names with weights per mille (they sum to 1000): selectivities from 0.1 % to 28 %. */
export const CATEGORIES: ReadonlyArray<readonly [name: string, perMille: number]> = [
  ['grocery', 280],
  ['produce', 160],
  ['beverages', 110],
  ['dairy', 80],
  ['bakery', 65],
  ['snacks', 55],
  ['household', 45],
  ['meat', 40],
  ['coffee', 35],
  ['frozen', 30],
  ['personal_care', 25],
  ['pharmacy', 20],
  ['seafood', 16],
  ['pet', 12],
  ['alcohol', 9],
  ['hardware', 7],
  ['clothing', 5],
  ['toys', 3],
  ['electronics', 2],
  ['books', 1],
];

const ITEMS: Record<string, readonly string[]> = {
  grocery: ['RICE 1KG', 'PASTA', 'OLIVE OIL', 'FLOUR', 'SUGAR', 'CEREAL'],
  produce: ['BANANAS', 'APPLES', 'TOMATOES', 'AVOCADO', 'SPINACH', 'ONIONS'],
  beverages: ['ORANGE JUICE', 'SPARKLING WATER', 'COLA', 'ICED TEA', 'LEMONADE'],
  dairy: ['MILK 2%', 'GREEK YOGURT', 'CHEDDAR', 'BUTTER', 'EGGS 12CT'],
  bakery: ['SOURDOUGH', 'CROISSANT', 'BAGELS', 'MUFFIN', 'BAGUETTE'],
  snacks: ['POTATO CHIPS', 'PRETZELS', 'TRAIL MIX', 'GRANOLA BAR', 'CHOCOLATE'],
  household: ['PAPER TOWELS', 'DISH SOAP', 'TRASH BAGS', 'DETERGENT', 'SPONGES'],
  meat: ['CHICKEN BREAST', 'GROUND BEEF', 'BACON', 'PORK CHOPS', 'TURKEY'],
  coffee: ['COFFEE', 'LATTE', 'ESPRESSO', 'CAPPUCCINO', 'COLD BREW'],
  frozen: ['FROZEN PIZZA', 'ICE CREAM', 'FROZEN PEAS', 'WAFFLES', 'DUMPLINGS'],
  personal_care: ['SHAMPOO', 'TOOTHPASTE', 'DEODORANT', 'BODY WASH', 'RAZORS'],
  pharmacy: ['IBUPROFEN', 'VITAMIN D', 'BANDAGES', 'COUGH SYRUP', 'ALLERGY RELIEF'],
  seafood: ['SALMON FILLET', 'SHRIMP', 'TUNA STEAK', 'COD', 'SCALLOPS'],
  pet: ['DOG FOOD', 'CAT LITTER', 'PET TREATS', 'CAT FOOD'],
  alcohol: ['RED WINE', 'IPA 6PK', 'LAGER', 'PROSECCO'],
  hardware: ['AA BATTERIES', 'LIGHT BULB', 'DUCT TAPE', 'SCREWDRIVER'],
  clothing: ['SOCKS', 'T-SHIRT', 'BASEBALL CAP', 'GLOVES'],
  toys: ['PUZZLE', 'BUILDING BLOCKS', 'PLUSH BEAR'],
  electronics: ['USB CABLE', 'EARBUDS', 'PHONE CHARGER'],
  books: ['PAPERBACK', 'MAGAZINE', 'NOTEBOOK'],
};

const MERCHANTS = [
  'Sprouts Farmers Market',
  'Trader Joes',
  'Whole Foods Market',
  'Costco Wholesale',
  'Target',
  'Walmart Supercenter',
  'Safeway',
  'Kroger',
  'CVS Pharmacy',
  'Walgreens',
  'Home Depot',
  'Starbucks',
  'Blue Bottle Coffee',
  'Ralphs',
  'Vons',
  'Albertsons',
  'Smart & Final',
  '99 Ranch Market',
  'Petco',
  'Barnes & Noble',
  'Best Buy',
  'REI Co-op',
  'Aldi',
  'Lidl',
] as const;

const CATEGORY_CUMULATIVE: Int32Array = (() => {
  const c = new Int32Array(CATEGORIES.length);
  let s = 0;
  CATEGORIES.forEach(([, w], i) => {
    s += w;
    c[i] = s;
  });
  if (s !== 1000) throw new Error(`category weights sum to ${s}, not 1000`);
  return c;
})();

function pickCategory(u1000: number): string {
  for (let i = 0; i < CATEGORY_CUMULATIVE.length; i++)
    if (u1000 < CATEGORY_CUMULATIVE[i]!) return CATEGORIES[i]![0];
  return CATEGORIES[CATEGORIES.length - 1]![0];
}

/** A version-4-shaped UUID drawn from the PRNG. */
export function uuidFrom(r: Rng): string {
  const hex: string[] = [];
  for (let i = 0; i < 4; i++) hex.push(r.uint32().toString(16).padStart(8, '0'));
  const h = hex.join('');
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function formatId(imageId: string, receipt: number, line: number): string {
  return `IMAGE#${imageId}#RECEIPT#${String(receipt).padStart(5, '0')}#LINE#${String(line).padStart(5, '0')}`;
}

const ID_RE = /^IMAGE#([0-9a-f-]{36})#RECEIPT#(\d{5})#LINE#(\d{5})$/;
export function parseId(id: string): { imageId: string; receipt: number; line: number } | undefined {
  const m = ID_RE.exec(id);
  if (!m) return undefined;
  return { imageId: m[1]!, receipt: Number(m[2]), line: Number(m[3]) };
}

// ---------------------------------------------------------------------------------------------------------
// cluster centres

interface Space {
  dimension: number;
  clusters: number;
  noise: number;
  /** clusters × dimension, unit-norm rows. */
  centres: Float32Array;
  /** Per-cluster noise scale (0.7..1.3 × noise / √dimension). */
  sigma: Float32Array;
}

let lastSpace: { key: string; space: Space } | null = null;

function space(seed: number, dimension: number, clusters: number, noise: number): Space {
  if (!Number.isInteger(dimension) || dimension < 1) throw new RangeError(`bad dimension ${dimension}`);
  if (!Number.isInteger(clusters) || clusters < 1) throw new RangeError(`bad cluster count ${clusters}`);
  const key = `${seed}/${dimension}/${clusters}/${noise}`;
  if (lastSpace?.key === key) return lastSpace.space;
  const r = rng(hashSeed(seed, 'centres', dimension, clusters));
  const centres = new Float32Array(clusters * dimension);
  const sigma = new Float32Array(clusters);
  for (let c = 0; c < clusters; c++) {
    let norm = 0;
    const base = c * dimension;
    for (let i = 0; i < dimension; i++) {
      const v = r.normal();
      centres[base + i] = v;
      norm += v * v;
    }
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < dimension; i++) centres[base + i]! *= inv;
    sigma[c] = ((0.7 + 0.6 * r.next()) * noise) / Math.sqrt(dimension);
  }
  const s: Space = { dimension, clusters, noise, centres, sigma };
  lastSpace = { key, space: s };
  return s;
}

/** Writes a unit vector near centre `cluster` into `out`, drawing noise from a mulberry32 state seeded by `s`. */
function fillVector(sp: Space, cluster: number, s: number, out: Float32Array): void {
  const table = normalTable();
  const dim = sp.dimension;
  const base = cluster * dim;
  const sig = sp.sigma[cluster]!;
  const c = sp.centres;
  let a = s | 0;
  let norm = 0;
  for (let i = 0; i < dim; i += 2) {
    // inline mulberry32: one 32-bit draw gives two 16-bit table indices
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    t = (t ^ (t >>> 14)) >>> 0;
    const v0 = c[base + i]! + sig * table[t & 0xffff]!;
    out[i] = v0;
    norm += v0 * v0;
    if (i + 1 < dim) {
      const v1 = c[base + i + 1]! + sig * table[t >>> 16]!;
      out[i + 1] = v1;
      norm += v1 * v1;
    }
  }
  const inv = 1 / Math.sqrt(norm);
  for (let i = 0; i < dim; i++) out[i]! *= inv;
}

// ---------------------------------------------------------------------------------------------------------
// images → receipts → lines

interface Image {
  imageId: string;
  merchant: string;
  /** Lines per receipt (receipt r+1 has lines[r] lines). */
  lines: number[];
  size: number;
}

function image(ns: number, n: number): Image {
  const r = rng(hashSeed(ns, 'image', n));
  const imageId = uuidFrom(r);
  const merchant = r.pick(MERCHANTS);
  const receipts = 1 + r.int(3);
  const lines: number[] = [];
  let size = 0;
  for (let i = 0; i < receipts; i++) {
    const l = 2 + r.int(9);
    lines.push(l);
    size += l;
  }
  return { imageId, merchant, lines, size };
}

function lineDocument(r: Rng, category: string, isTotal: boolean): string {
  if (isTotal) return `TOTAL ${(5 + r.next() * 195).toFixed(2)}`;
  const qty = 1 + r.int(4);
  const item = r.pick(ITEMS[category] ?? ['ITEM']);
  return `${qty} x ${item} ${(0.5 + r.next() * 29.5).toFixed(2)}`;
}

function lineMetadata(
  r: Rng,
  img: { imageId: string; merchant: string },
  receipt: number,
  line: number,
  isTotal: boolean,
  category: string,
): Metadata {
  return {
    merchant: img.merchant,
    image_id: img.imageId,
    receipt_id: receipt,
    line_id: line,
    confidence: Math.round((0.5 + 0.5 * r.next()) * 10000) / 10000,
    is_total: isTotal,
    category,
    bucket: r.int(1000),
  };
}

/** Records `offset .. offset+count-1` of namespace `ns` in the vector space of `seed`. */
function* recordsIn(
  ns: number,
  sp: Space,
  offset: number,
  count: number,
): Generator<VectorRecord, void, undefined> {
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`bad offset ${offset}`);
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`bad count ${count}`);
  // find the image holding record `offset`
  let imgNo = 0;
  let start = 0;
  let img = image(ns, 0);
  while (start + img.size <= offset) {
    start += img.size;
    img = image(ns, ++imgNo);
  }
  let within = offset - start;
  const recSeed = hashSeed(ns, 'records');
  for (let k = 0; k < count; k++) {
    const index = offset + k;
    if (within >= img.size) {
      img = image(ns, ++imgNo);
      within = 0;
    }
    // locate receipt/line inside the image
    let receipt = 0;
    let line = within;
    while (line >= img.lines[receipt]!) line -= img.lines[receipt++]!;
    const isTotal = line === img.lines[receipt]! - 1;
    const s = fmix32((recSeed + Math.imul(index, 0x9e3779b1)) | 0);
    const r = rng(s);
    const category = pickCategory(r.int(1000));
    const cluster = r.int(sp.clusters);
    const embedding = new Float32Array(sp.dimension);
    fillVector(sp, cluster, r.uint32(), embedding);
    const document = lineDocument(r, category, isTotal);
    const metadata = lineMetadata(r, img, receipt + 1, line + 1, isTotal, category);
    yield { id: formatId(img.imageId, receipt + 1, line + 1), embedding, document, metadata };
    within++;
  }
}

/** Clustered, normalised records with receipt-shaped ids, documents and metadata. Deterministic given the seed. */
export function generateRecords(opts: GenerateRecordsOptions): Generator<VectorRecord, void, undefined> {
  const sp = space(opts.seed, opts.dimension, opts.clusters ?? 128, opts.noise ?? 0.6);
  return recordsIn(hashSeed(opts.seed, 'base'), sp, opts.offset ?? 0, opts.count);
}

/**
 * A batch of changes against `existingIds`: new upserts, re-upserts of existing ids, document/metadata updates
 * and deletes, in a deterministic random order. Each existing id is touched at most once per batch (when
 * the existing ids run out, the remaining operations become new upserts). New ids come from a namespace of
 * their own per (seed, round), so they never collide with `generateRecords` ids or other rounds.
 */
export function* generateChanges(opts: GenerateChangesOptions): Generator<Operation, void, undefined> {
  const sp = space(opts.seed, opts.dimension, opts.clusters ?? 128, opts.noise ?? 0.6);
  const mix: ChangeMix = { upsert: 0.4, reupsert: 0.25, update: 0.2, delete: 0.15, ...opts.mix };
  const total = mix.upsert + mix.reupsert + mix.update + mix.delete;
  if (!(total > 0)) throw new RangeError('change mix weights sum to zero');
  const r = rng(hashSeed(opts.seed, 'changes', opts.round));
  const fresh = recordsIn(hashSeed(opts.seed, 'round', opts.round), sp, 0, Number.MAX_SAFE_INTEGER);
  // sparse Fisher–Yates over existingIds: each drawn at most once
  const ids = opts.existingIds;
  const swapped = new Map<number, number>();
  let drawn = 0;
  const drawExisting = (): string | undefined => {
    if (drawn >= ids.length) return undefined;
    const j = drawn + r.int(ids.length - drawn);
    const vj = swapped.get(j) ?? j;
    const vd = swapped.get(drawn) ?? drawn;
    swapped.set(j, vd);
    drawn++;
    return ids[vj];
  };
  for (let k = 0; k < opts.count; k++) {
    const u = r.next() * total;
    const kind: keyof ChangeMix =
      u < mix.upsert
        ? 'upsert'
        : u < mix.upsert + mix.reupsert
          ? 'reupsert'
          : u < mix.upsert + mix.reupsert + mix.update
            ? 'update'
            : 'delete';
    const id = kind === 'upsert' ? undefined : drawExisting();
    if (id === undefined) {
      const rec = fresh.next().value as VectorRecord;
      yield { op: 'upsert', ...rec };
      continue;
    }
    const rr = rng(hashSeed(opts.seed, 'change', opts.round, k));
    if (kind === 'delete') {
      yield { op: 'delete', id };
    } else if (kind === 'reupsert') {
      const parsed = parseId(id);
      const category = pickCategory(rr.int(1000));
      const embedding = new Float32Array(sp.dimension);
      fillVector(sp, rr.int(sp.clusters), rr.uint32(), embedding);
      const isTotal = rr.chance(0.15);
      const document = lineDocument(rr, category, isTotal);
      const metadata = lineMetadata(
        rr,
        { imageId: parsed?.imageId ?? id, merchant: rr.pick(MERCHANTS) },
        parsed?.receipt ?? 1,
        parsed?.line ?? 1,
        isTotal,
        category,
      );
      yield { op: 'upsert', id, embedding, document, metadata };
    } else {
      const patch: MetadataPatch = {
        confidence: Math.round((0.5 + 0.5 * rr.next()) * 10000) / 10000,
        reviewed: true,
      };
      const v = rr.next();
      if (v < 0.2) patch.category = pickCategory(rr.int(1000));
      else if (v < 0.3) patch.reviewed = null; // removes the key
      if (rr.chance(0.3)) {
        yield {
          op: 'update',
          id,
          document: lineDocument(rr, rr.pick(CATEGORIES)[0], false),
          metadata: patch,
        };
      } else {
        yield { op: 'update', id, metadata: patch };
      }
    }
  }
}
