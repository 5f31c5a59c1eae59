/** Chroma interop: read a persistent directory without Chroma, import it as deltas, export a snapshot to it. */
export { chromaPreimage, chromaView } from './cosine.js';
export { type ExportChromaOptions, type ExportChromaReport, exportChroma } from './export.js';
export { type ChromaCollectionRef, ChromaHttp } from './http.js';
export {
  type ImportChromaOptions,
  type ImportChromaReport,
  type ImportedCollection,
  importChroma,
} from './import.js';
export { assertNotInUse, type InUseReport, inspectInUse } from './in-use.js';
export {
  CHROMA_DB_FILE,
  type ChromaCollectionInfo,
  type ChromaCollectionPlan,
  ChromaDirectory,
  chromaDirectoriesIn,
  isChromaDirectory,
} from './reader.js';
export { ChromaServer, type ChromaServerOptions, freePort } from './server.js';
