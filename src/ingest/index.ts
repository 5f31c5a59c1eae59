/** Delta files and producer-file converters: pure functions, bytes in, bytes out (no store access). */
export { decodeDelta, readDeltaHeader } from './delta-decode.js';
export { encodeDelta, type RawDeltaRow, validateStorableOperation, writeRawDelta } from './delta-encode.js';
export {
  DELTA_FORMAT,
  DELTA_FORMAT_VERSION,
  type DeltaEncodeHeader,
  type DeltaExpectation,
  type DeltaHeader,
  DeltaKeys,
} from './delta-header.js';
export { parseArrowProducerFile } from './producer-arrow.js';
export {
  detectProducerFormat,
  type ProducerFormat,
  type ReadProducerFileOptions,
  readProducerFile,
} from './producer-file.js';
export { parseNdjson } from './producer-ndjson.js';
export { parseOpenAIBatch } from './producer-openai.js';
