/**
 * A minimal, safe reader for the Python pickles Chroma writes next to its HNSW files
 * (`index_metadata.pickle`: a dict of str → None | int | dict[str, int] | dict[int, str]).
 * Only data opcodes are understood; anything that could construct objects or call code (GLOBAL, REDUCE,
 * BUILD, …) is refused with E_CHROMA_FORMAT, never executed.
 */
import { ErrorCodes, StrataError } from '../../core/errors.js';

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PickleValue[]
  | Map<PickleKey, PickleValue>;
export type PickleKey = string | number | bigint | boolean | null;

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

export function readPickle(bytes: Uint8Array, file: string): PickleValue {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  const fail = (message: string): never => {
    throw new StrataError(ErrorCodes.CHROMA_FORMAT, `${message} at byte ${pos}`, { file });
  };
  const need = (n: number) => {
    if (pos + n > buf.length) fail('pickle ends early (truncated file)');
  };
  const u8 = () => {
    need(1);
    return buf[pos++]!;
  };
  const u16 = () => {
    need(2);
    const v = buf.readUInt16LE(pos);
    pos += 2;
    return v;
  };
  const i32 = () => {
    need(4);
    const v = buf.readInt32LE(pos);
    pos += 4;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = buf.readUInt32LE(pos);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = buf.readBigUInt64LE(pos);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('pickle length too large');
    return Number(v);
  };
  const text = (n: number) => {
    need(n);
    const s = buf.toString('utf8', pos, pos + n);
    pos += n;
    return s;
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) return fail('pickle stack underflow');
    return v as PickleValue;
  };
  const popToMark = (): PickleValue[] => {
    const items: PickleValue[] = [];
    for (;;) {
      const v = stack.pop();
      if (v === undefined) return fail('pickle MARK missing');
      if (v === MARK) return items.reverse();
      items.push(v);
    }
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) return fail('pickle stack underflow');
    return v;
  };
  const asKey = (k: PickleValue): PickleKey => {
    if (k === null || typeof k !== 'object') return k;
    return fail('unhashable pickle key');
  };
  const setItems = (d: PickleValue, kv: PickleValue[]) => {
    if (!(d instanceof Map) || kv.length % 2 !== 0) fail('SETITEMS on a non-dict');
    for (let i = 0; i < kv.length; i += 2) (d as Map<PickleKey, PickleValue>).set(asKey(kv[i]!), kv[i + 1]!);
  };
  const long = (n: number): number | bigint => {
    need(n);
    if (n === 0) {
      return 0;
    }
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[pos + i]!);
    if (buf[pos + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    pos += n;
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(long(u8()));
        break;
      case 0x8b: // LONG4
        stack.push(long(u32()));
        break;
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(buf.readDoubleBE(pos));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popToMark();
        setItems(top(), kv);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail('APPEND on a non-list');
        (l as PickleValue[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popToMark();
        const l = top();
        if (!Array.isArray(l)) fail('APPENDS on a non-list');
        (l as PickleValue[]).push(...items);
        break;
      }
      case 0x74: // TUPLE
        stack.push(popToMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`pickle memo ${i} missing`);
        stack.push(memo.get(i)!);
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16)}`);
    }
  }
}
