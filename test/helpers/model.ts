/** The reference model lives in lab/torture/model.ts (the torture campaign uses it too). */
export { type ModelRecord, ReferenceModel } from '../../lab/torture/model.js';
