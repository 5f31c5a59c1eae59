/** Delta files and producer-file converters: pure functions, bytes in, bytes out (no store access). */
export {
  DELTA_FORMAT,
  DELTA_FORMAT_VERSION,
  type DeltaEncodeHeader,
  type DeltaExpectation,
  type DeltaHeader,
  DeltaKeys,
  decodeDelta,
  encodeDelta,
  readDeltaHeader,
} from './delta-format.js';
export {
  detectProducerFormat,
  type ProducerFormat,
  parseArrowProducerFile,
  parseNdjson,
  parseOpenAIBatch,
  type ReadProducerFileOptions,
  readProducerFile,
} from './producer-file.js';
