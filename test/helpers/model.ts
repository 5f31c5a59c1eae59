/** The reference model lives in src/torture/model.ts (the torture campaign uses it too). */
export { type ModelRecord, ReferenceModel } from '../../src/torture/model.js';
