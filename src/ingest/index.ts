/** Delta files and producer-file converters: pure functions, bytes in, bytes out (no store access). */
export { decodeDelta, readDeltaHeader } from './delta-decode.js';
export { encodeDelta, type RawDeltaRow, writeRawDelta } from './delta-encode.js';
export {
  DELTA_FORMAT,
  DELTA_FORMAT_VERSION,
  type DeltaEncodeHeader,
  type DeltaExpectation,
  type DeltaHeader,
  DeltaKeys,
} from './delta-header.js';
export {
  detectProducerFormat,
  type ProducerFormat,
  parseArrowProducerFile,
  parseNdjson,
  parseOpenAIBatch,
  type ReadProducerFileOptions,
  readProducerFile,
} from './producer-file.js';
