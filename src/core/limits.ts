/** Input limits. Generous for real workloads, small enough that one bad row cannot exhaust memory. */
export const Limits = {
  maxIdBytes: 512,
  maxDimension: 65536,
  maxDocumentBytes: 1 << 20,
  maxMetadataBytes: 64 << 10,
  maxMetadataKeys: 256,
  maxMetadataKeyBytes: 256,
  maxMetadataArrayLength: 1024,
  maxCollectionNameLength: 128,
} as const;
