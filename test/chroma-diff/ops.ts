/**
 * The vocabulary of the differential test: one client operation as plain data (printable, replayable) and
 * the fast-check arbitraries that generate them. Values come from small pools so that operations keep
 * hitting the same collections, ids, metadata keys and words; a few of each are bad on purpose (names
 * Chroma refuses, a vector one dimension too long, a negative offset, an empty id…), so the error paths are
 * compared too. Operations a server is known to answer differently on purpose are not generated here: the
 * pinned tests in chroma-diff.test.ts cover them (see README, "Chroma compatibility").
 */
import fc from 'fast-check';

export type Space = 'l2' | 'cosine' | 'ip';
export type Scalar = string | number | boolean;
export type Meta = Record<string, Scalar | null>;
export type Where = Record<string, unknown>;
export type WhereDocument = Record<string, unknown>;
export type IncludeField = 'documents' | 'metadatas' | 'embeddings' | 'distances' | 'uris';

/** Collection names: the first three are the working set, the rest are refused by Chroma's rules. */
export const COLLECTION_NAMES = ['alpha', 'beta', 'gamma-2', 'ab', 'a..b', '10.0.0.1', '-dash'] as const;
/** The dimension each working collection gets (a renamed collection keeps its own). */
export const DIMENSIONS: Readonly<Record<string, number>> = { alpha: 3, beta: 4, 'gamma-2': 2 };
export const DEFAULT_DIMENSION = 3;
/** Vectors are generated this long and cut to the collection's dimension when run. */
export const VECTOR_SPEC_LENGTH = 6;

export const IDS = ['id0', 'id1', 'id2', 'id3', 'id4', 'id5', 'id6', 'id7', 'doc-8', 'ü-9', 'id 10', 'z'];
const META_KEYS = ['a', 'b', 'tag', 'n'];
const WORDS = ['hello', 'world', 'foo', 'bar', 'Hello', 'lo', 'x', ''];
export const DOCUMENTS = ['hello world', 'Hello', 'foo bar', 'x', '', 'lorem ipsum dolor', 'bar foo hello'];
/** Regular expressions both dialects (Rust regex, JavaScript with the u flag) read alike. */
const REGEXES = ['^h', 'o$', 'l+', 'fo?o', '[a-f]oo', '\\d', '^$', 'b.r', 'x|y', '\\s', '(?:lo)+'];
/** Tenants and databases: tokens, made unique per sequence when run (see tenantName). */
export const TENANTS = ['default_tenant', 'ten1', 'ten2', 'tx'] as const;
export const DATABASES = ['default_database', 'dba', 'dbb', 'dx'] as const;

export type Op =
  | {
      op: 'createCollection';
      name: string;
      space?: Space;
      spaceVia: 'configuration' | 'metadata';
      /** HNSW parameters, in the configuration or as the legacy hnsw:* metadata keys (spaceVia). */
      hnsw?: { ef_search?: number; max_neighbors?: number; ef_construction?: number };
      metadata?: Meta;
      getOrCreate: boolean;
    }
  | { op: 'getCollection'; name: string }
  | { op: 'listCollections'; limit?: number; offset?: number }
  | { op: 'countCollections' }
  | { op: 'deleteCollection'; name: string }
  | {
      op: 'modifyCollection';
      target: string;
      name?: string;
      metadata?: Meta;
      configuration?: { hnsw: { ef_search?: number; max_neighbors?: number } };
    }
  | {
      op: 'add' | 'upsert' | 'update';
      target: string;
      ids: string[];
      embeddings?: number[][];
      documents?: string[];
      metadatas?: Array<Meta | null>;
      /** 1: every vector is one dimension too long. */
      dimDelta: number;
    }
  | { op: 'delete'; target: string; ids?: string[]; where?: Where; whereDocument?: WhereDocument }
  | {
      op: 'get';
      target: string;
      ids?: string[];
      where?: Where;
      whereDocument?: WhereDocument;
      limit?: number;
      offset?: number;
      include?: IncludeField[];
    }
  | {
      op: 'query';
      target: string;
      queryEmbeddings: number[][];
      nResults?: number;
      ids?: string[];
      where?: Where;
      whereDocument?: WhereDocument;
      include?: IncludeField[];
      dimDelta: number;
    }
  | { op: 'count'; target: string }
  | { op: 'peek'; target: string; limit?: number }
  | { op: 'createTenant'; tenant: string }
  | { op: 'getTenant'; tenant: string }
  | { op: 'createDatabase'; tenant: string; database: string }
  | { op: 'getDatabase'; tenant: string; database: string }
  | { op: 'listDatabases'; tenant: string }
  | { op: 'deleteDatabase'; tenant: string; database: string }
  | { op: 'listCollectionsIn'; tenant: string; database: string }
  | { op: 'countCollectionsIn'; tenant: string; database: string }
  | { op: 'createCollectionIn'; tenant: string; database: string; name: string }
  | { op: 'getCollectionIn'; tenant: string; database: string; name: string };

export type OpName = Op['op'];
/** Operations on the records of one collection (they run through a collection handle). */
export const RECORD_OPS: ReadonlySet<OpName> = new Set([
  'add',
  'upsert',
  'update',
  'delete',
  'get',
  'query',
  'count',
  'peek',
  'modifyCollection',
]);
export const WRITE_OPS: ReadonlySet<OpName> = new Set(['add', 'upsert', 'update', 'delete']);
/** Operations on tenants and databases (and collections in them): not in import sequences, whose Chroma is private. */
export const TENANT_OPS: ReadonlySet<OpName> = new Set([
  'createTenant',
  'getTenant',
  'createDatabase',
  'getDatabase',
  'listDatabases',
  'deleteDatabase',
  'listCollectionsIn',
  'countCollectionsIn',
  'createCollectionIn',
  'getCollectionIn',
]);

// --- values ------------------------------------------------------------------------------------------

const workingName = fc.constantFrom('alpha', 'beta', 'gamma-2');
const anyName = fc.oneof(
  { weight: 8, arbitrary: workingName },
  { weight: 1, arbitrary: fc.constantFrom(...COLLECTION_NAMES.slice(3)) },
);

/**
 * A float32 value: small integers (ties, exact sums) or floats of magnitude 1e-3..10. Not smaller: a
 * vector whose components all underflow float16 breaks Strata's f16 index verification (reported; see
 * the pinned test "tiny vectors" in chroma-diff.test.ts).
 */
const component = fc.oneof(
  { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) },
  { weight: 1, arbitrary: fc.constant(-0) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.float({ min: Math.fround(1e-3), max: 10, noNaN: true }), fc.boolean())
      .map(([x, negative]) => Math.fround(negative ? -x : x)),
  },
);
/** Never the zero vector (cosine of a zero vector is a pinned difference), nor one that is zero in the first 2 dimensions. */
const vectorSpec = fc
  .array(component, { minLength: VECTOR_SPEC_LENGTH, maxLength: VECTOR_SPEC_LENGTH })
  .map((v) => (v[0] === 0 && v[1] === 0 ? [1, ...v.slice(1)] : v));

const strings = fc.constantFrom('x', 'y', 'hello', '', 'Hello world');
const ints = fc.integer({ min: -3, max: 3 });
const floats = fc.constantFrom(1.5, -0.25, 2.75, 1e-3);
/**
 * Values by key: only `n` holds fractions. Chroma 1.0 compares an integer value with a fractional operand
 * truncated (1 ≥ 1.5 and 1 = 1.5 are true there), Strata compares the numbers (a pinned difference), so a
 * fractional operand is only ever compared with fractions or integers of a key that holds no integers.
 */
const VALUES: Readonly<Record<string, fc.Arbitrary<Scalar>>> = {
  a: fc.oneof(strings, ints),
  b: fc.oneof(ints, fc.boolean()),
  tag: fc.oneof(strings, ints, fc.boolean()),
  n: fc.oneof(floats, strings),
};
function metadataOf(value: (key: string) => fc.Arbitrary<Scalar | null>): fc.Arbitrary<Meta> {
  const fields = Object.fromEntries(META_KEYS.map((k) => [k, value(k)]));
  return fc
    .record(fields, { requiredKeys: [] })
    .map((m) => Object.fromEntries(Object.entries(m).filter(([, x]) => x !== undefined)) as Meta)
    .filter((m) => Object.keys(m).length > 0);
}
/** Metadata for a new record: 1-4 keys, no null values (3.0.14 would send them; Chroma refuses them on add). */
const metadata: fc.Arbitrary<Meta> = metadataOf((k) => VALUES[k]!);
/** A metadata change (update/upsert): a null value removes the key. */
const metadataPatch: fc.Arbitrary<Meta> = metadataOf((k) =>
  fc.oneof({ weight: 4, arbitrary: VALUES[k]! }, { weight: 1, arbitrary: fc.constant(null) }),
);

const idList = (min: number, max: number) =>
  fc.uniqueArray(fc.constantFrom(...IDS), { minLength: min, maxLength: max });

// --- filters -----------------------------------------------------------------------------------------

/** An $in/$nin list of one value type, of the values a key holds (or ints and floats together: refused). */
const listFor = (k: string) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.uniqueArray(VALUES[k]!, { minLength: 1, maxLength: 3 }).filter(oneType) },
    { weight: 1, arbitrary: fc.constant([1, 1.5]) },
  );
const oneType = (xs: Scalar[]) =>
  new Set(xs.map((x) => (typeof x === 'number' ? (Number.isInteger(x) ? 'int' : 'float') : typeof x)))
    .size === 1;
/** A range operand: fractions only for `n` (see VALUES). */
const rangeFor = (k: string) => (k === 'n' ? fc.oneof(ints, floats) : ints);

const leafWhere: fc.Arbitrary<Where> = fc.constantFrom(...META_KEYS).chain((k) =>
  fc.oneof(
    VALUES[k]!.map((v) => ({ [k]: v })),
    fc.record({ o: fc.constantFrom('$eq', '$ne'), v: VALUES[k]! }).map(({ o, v }) => ({ [k]: { [o]: v } })),
    fc
      .record({ o: fc.constantFrom('$gt', '$gte', '$lt', '$lte'), v: rangeFor(k) })
      .map(({ o, v }) => ({ [k]: { [o]: v } })),
    fc.record({ o: fc.constantFrom('$in', '$nin'), v: listFor(k) }).map(({ o, v }) => ({ [k]: { [o]: v } })),
  ),
);
const where: fc.Arbitrary<Where> = fc.oneof(
  { weight: 3, arbitrary: leafWhere },
  {
    weight: 1,
    arbitrary: fc
      .record({
        o: fc.constantFrom('$and', '$or'),
        parts: fc.array(leafWhere, { minLength: 2, maxLength: 3 }),
      })
      .map(({ o, parts }) => ({ [o]: parts })),
  },
);

const leafWhereDocument: fc.Arbitrary<WhereDocument> = fc.oneof(
  fc
    .record({ o: fc.constantFrom('$contains', '$not_contains'), v: fc.constantFrom(...WORDS) })
    .map(({ o, v }) => ({ [o]: v })),
  fc
    .record({ o: fc.constantFrom('$regex', '$not_regex'), v: fc.constantFrom(...REGEXES) })
    .map(({ o, v }) => ({ [o]: v })),
);
const whereDocument: fc.Arbitrary<WhereDocument> = fc.oneof(
  { weight: 3, arbitrary: leafWhereDocument },
  {
    weight: 1,
    arbitrary: fc
      .record({
        o: fc.constantFrom('$and', '$or'),
        parts: fc.array(leafWhereDocument, { minLength: 2, maxLength: 2 }),
      })
      .map(({ o, parts }) => ({ [o]: parts })),
  },
);

const include = (fields: IncludeField[]) => fc.subarray(fields);

const maybe = <T>(a: fc.Arbitrary<T>, freq = 2) => fc.option(a, { nil: undefined, freq });

// --- operations --------------------------------------------------------------------------------------

const writeRecords = (op: 'add' | 'upsert' | 'update') =>
  fc
    .record({
      target: workingName,
      ids: idList(1, 4),
      withEmbeddings: op === 'update' ? fc.boolean() : fc.constant(true),
      withDocuments: fc.boolean(),
      withMetadatas: fc.boolean(),
      vectors: fc.array(vectorSpec, { minLength: 4, maxLength: 4 }),
      documents: fc.array(fc.constantFrom(...DOCUMENTS), { minLength: 4, maxLength: 4 }),
      metadatas: fc.array(fc.option(op === 'add' ? metadata : metadataPatch, { nil: null, freq: 5 }), {
        minLength: 4,
        maxLength: 4,
      }),
      dimDelta: fc.oneof({ weight: 15, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(1) }),
    })
    .map((r): Op => {
      const n = r.ids.length;
      return {
        op,
        target: r.target,
        ids: r.ids,
        ...(r.withEmbeddings ? { embeddings: r.vectors.slice(0, n) } : {}),
        ...(r.withDocuments ? { documents: r.documents.slice(0, n) } : {}),
        ...(r.withMetadatas ? { metadatas: r.metadatas.slice(0, n) } : {}),
        dimDelta: r.withEmbeddings ? r.dimDelta : 0,
      };
    });

const badIds = fc.constantFrom<string[]>([''], ['ok-id', '']);

export const opArbitraries: Array<{ weight: number; arbitrary: fc.Arbitrary<Op> }> = [
  {
    weight: 4,
    arbitrary: fc
      .record({
        name: anyName,
        space: maybe(fc.constantFrom<Space>('l2', 'cosine', 'ip'), 3),
        spaceVia: fc.constantFrom<'configuration' | 'metadata'>('configuration', 'configuration', 'metadata'),
        hnsw: maybe(
          fc.record(
            {
              ef_search: fc.integer({ min: 1, max: 200 }),
              max_neighbors: fc.integer({ min: 2, max: 64 }),
              ef_construction: fc.integer({ min: 1, max: 200 }),
            },
            { requiredKeys: [] },
          ),
          1,
        ),
        metadata: maybe(
          fc.oneof({ weight: 10, arbitrary: metadata }, { weight: 1, arbitrary: metadataPatch }),
        ),
        getOrCreate: fc.boolean(),
      })
      .map((r): Op => ({ op: 'createCollection', ...r })),
  },
  { weight: 2, arbitrary: anyName.map((name): Op => ({ op: 'getCollection', name })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ limit: maybe(fc.integer({ min: 0, max: 3 })), offset: maybe(fc.integer({ min: 0, max: 3 })) })
      .map((r): Op => ({ op: 'listCollections', ...r })),
  },
  { weight: 1, arbitrary: fc.constant<Op>({ op: 'countCollections' }) },
  { weight: 1, arbitrary: anyName.map((name): Op => ({ op: 'deleteCollection', name })) },
  {
    weight: 1,
    arbitrary: fc
      .record({
        target: workingName,
        name: maybe(anyName),
        metadata: maybe(
          fc.oneof({ weight: 6, arbitrary: metadata }, { weight: 1, arbitrary: metadataPatch }),
        ),
        configuration: maybe(
          fc
            .record(
              { ef_search: fc.integer({ min: 1, max: 200 }), max_neighbors: fc.integer({ min: 2, max: 64 }) },
              { requiredKeys: [] },
            )
            .map((hnsw) => ({ hnsw })),
          1,
        ),
      })
      .map((r): Op => ({ op: 'modifyCollection', ...r })),
  },
  { weight: 8, arbitrary: writeRecords('add') },
  { weight: 5, arbitrary: writeRecords('upsert') },
  { weight: 5, arbitrary: writeRecords('update') },
  {
    weight: 1,
    arbitrary: fc.record({ target: workingName, ids: badIds, vector: vectorSpec }).map(
      (r): Op => ({
        op: 'add',
        target: r.target,
        ids: r.ids,
        embeddings: r.ids.map(() => r.vector),
        dimDelta: 0,
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.record({ target: workingName, ids: idList(1, 3) }).map((r): Op => ({ op: 'delete', ...r })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        target: workingName,
        ids: maybe(idList(1, 6), 4),
        where: maybe(where, 1),
        whereDocument: maybe(whereDocument),
      })
      .filter((r) => r.where !== undefined || r.whereDocument !== undefined)
      .map((r): Op => ({ op: 'delete', ...r })),
  },
  {
    weight: 8,
    arbitrary: fc
      .record({
        target: workingName,
        ids: maybe(idList(1, 6), 3),
        where: maybe(where),
        whereDocument: maybe(whereDocument, 3),
        limit: maybe(fc.integer({ min: 0, max: 5 })),
        offset: maybe(
          fc.oneof(
            { weight: 12, arbitrary: fc.integer({ min: 0, max: 6 }) },
            { weight: 1, arbitrary: fc.constant(-1) },
          ),
        ),
        include: maybe(include(['documents', 'metadatas', 'embeddings', 'uris']), 1),
      })
      .map((r): Op => ({ op: 'get', ...r })),
  },
  {
    weight: 6,
    arbitrary: fc
      .record({
        target: workingName,
        queryEmbeddings: fc.array(vectorSpec, { minLength: 1, maxLength: 2 }),
        nResults: maybe(
          fc.oneof(
            { weight: 10, arbitrary: fc.integer({ min: 1, max: 8 }) },
            { weight: 1, arbitrary: fc.constant(0) },
          ),
          1,
        ),
        where: maybe(where),
        whereDocument: maybe(whereDocument, 3),
        include: maybe(include(['documents', 'metadatas', 'embeddings', 'distances', 'uris']), 1),
        dimDelta: fc.oneof(
          { weight: 20, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.constant(1) },
        ),
      })
      .map((r): Op => ({ op: 'query', ...r })),
  },
  { weight: 2, arbitrary: workingName.map((target): Op => ({ op: 'count', target })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ target: workingName, limit: maybe(fc.integer({ min: 1, max: 4 })) })
      .map((r): Op => ({ op: 'peek', ...r })),
  },
  // tenants and databases
  { weight: 1, arbitrary: fc.constantFrom(...TENANTS).map((tenant): Op => ({ op: 'createTenant', tenant })) },
  { weight: 1, arbitrary: fc.constantFrom(...TENANTS).map((tenant): Op => ({ op: 'getTenant', tenant })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ tenant: fc.constantFrom(...TENANTS), database: fc.constantFrom(...DATABASES) })
      .map((r): Op => ({ op: 'createDatabase', ...r })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ tenant: fc.constantFrom(...TENANTS), database: fc.constantFrom(...DATABASES) })
      .map((r): Op => ({ op: 'getDatabase', ...r })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...TENANTS).map((tenant): Op => ({ op: 'listDatabases', tenant })),
  },
  {
    weight: 1,
    // never default_database: Chroma 1.0 deletes it (pinned difference)
    arbitrary: fc
      .record({ tenant: fc.constantFrom(...TENANTS), database: fc.constantFrom(...DATABASES.slice(1)) })
      .map((r): Op => ({ op: 'deleteDatabase', ...r })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ tenant: fc.constantFrom(...TENANTS), database: fc.constantFrom(...DATABASES) })
      .map((r): Op => ({ op: 'listCollectionsIn', ...r })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ tenant: fc.constantFrom(...TENANTS), database: fc.constantFrom(...DATABASES) })
      .map((r): Op => ({ op: 'countCollectionsIn', ...r })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        tenant: fc.constantFrom(...TENANTS.slice(1)),
        database: fc.constantFrom(...DATABASES),
        name: workingName,
      })
      .map((r): Op => ({ op: 'createCollectionIn', ...r })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        tenant: fc.constantFrom(...TENANTS.slice(1)),
        database: fc.constantFrom(...DATABASES),
        name: workingName,
      })
      .map((r): Op => ({ op: 'getCollectionIn', ...r })),
  },
];

/** Only writes (for the part of an import sequence that builds the Chroma directory). */
/**
 * Only writes to existing collections (the part of an import sequence that builds the Chroma directory;
 * its collections are created first, each with a vector — `strata import chroma` skips a collection that
 * never had one, as its dimension is unknown: a pinned difference).
 */
export const writeOnlyArbitraries: Array<{ weight: number; arbitrary: fc.Arbitrary<Op> }> = [
  { weight: 6, arbitrary: writeRecords('add') },
  { weight: 3, arbitrary: writeRecords('upsert') },
  { weight: 3, arbitrary: writeRecords('update') },
  {
    weight: 1,
    arbitrary: fc.record({ target: workingName, ids: idList(1, 2) }).map((r): Op => ({ op: 'delete', ...r })),
  },
];

/** One line per operation, as the replay log prints it. */
export function describeOp(op: Op): string {
  return JSON.stringify(op);
}
