/** The recall watch on its own: sampling, recall@k, the window and the alert, the bounded queue. */
import { describe, expect, it } from 'vitest';
import { type RecallState, RecallWatch, recallAtK } from '../../src/server/recall-watch.js';

const drained = (w: RecallWatch) =>
  new Promise<void>((resolve) => {
    const check = () => (w.queued === 0 ? resolve() : setImmediate(check));
    setImmediate(check);
  });

describe('recall watch', () => {
  it('computes recall@k as the share of the exact top-k the answer contains', () => {
    expect(recallAtK(['a', 'b', 'c'], ['a', 'b', 'c'], 3)).toBe(1);
    expect(recallAtK(['a', 'x', 'c'], ['a', 'b', 'c'], 3)).toBeCloseTo(2 / 3);
    expect(recallAtK(['a', 'b'], ['a', 'b', 'c', 'd'], 2)).toBe(1);
    expect(recallAtK([], [], 5)).toBe(1);
    expect(recallAtK(['a'], ['a', 'b'], 10)).toBe(0.5);
  });

  it('samples the configured fraction', () => {
    let i = 0;
    const seq = [0.001, 0.5, 0.009, 0.011];
    const w = new RecallWatch({ sample: 0.01, random: () => seq[i++ % seq.length]! });
    expect([w.wants(), w.wants(), w.wants(), w.wants()]).toEqual([true, false, true, false]);
    expect(new RecallWatch({ sample: 0 }).wants()).toBe(false);
    expect(() => new RecallWatch({ sample: 1.5 })).toThrow(RangeError);
  });

  it('runs samples off the request path, keeps a windowed mean and raises the alert below the threshold', async () => {
    const updates: Array<[string, RecallState]> = [];
    const w = new RecallWatch({
      sample: 1,
      alertBelow: 0.9,
      window: 10,
      minSamples: 5,
      onUpdate: (c, s) => updates.push([c, s]),
    });
    let released = 0;
    let exactCalls = 0;
    for (let i = 0; i < 5; i++) {
      w.offer({
        collection: 'c',
        k: 2,
        approximate: ['a', 'b'],
        exact: () => {
          exactCalls++;
          return ['a', 'z'];
        },
        release: () => released++,
      });
    }
    // nothing ran synchronously: the request that offered the sample is not slowed by it
    expect(exactCalls).toBe(0);
    await drained(w);
    expect(exactCalls).toBe(5);
    expect(released).toBe(5);
    expect(w.state('c')).toMatchObject({
      recall: 0.5,
      window: 5,
      samples: 5,
      alert: true,
      threshold: 0.9,
      k: 2,
    });
    // exact answers (null) count as recall 1; the window forgets the oldest samples
    for (let i = 0; i < 10; i++) w.offer({ collection: 'c', k: 2, approximate: ['a', 'b'], exact: null });
    await drained(w);
    expect(w.state('c')).toMatchObject({ recall: 1, window: 10, samples: 15, alert: false });
    expect(updates.length).toBe(15);
    w.close();
  });

  it('drops (and releases) samples when its queue is full, and releases what is queued on close', () => {
    let released = 0;
    const dropped: number[] = [];
    const w = new RecallWatch({ sample: 1, queueLimit: 2, onDrop: () => dropped.push(1) });
    const s = () => ({
      collection: 'c',
      k: 1,
      approximate: ['a'],
      exact: () => ['a'],
      release: () => released++,
    });
    expect(w.offer(s())).toBe(true);
    expect(w.offer(s())).toBe(true);
    expect(w.offer(s())).toBe(false);
    expect(w.dropped).toBe(1);
    expect(dropped.length).toBe(1);
    expect(released).toBe(1);
    w.close();
    expect(released).toBe(3);
    expect(w.offer(s())).toBe(false);
    expect(released).toBe(4);
  });

  it('a sample whose exact search throws is not counted', async () => {
    const w = new RecallWatch({ sample: 1 });
    w.offer({
      collection: 'c',
      k: 1,
      approximate: ['a'],
      exact: () => {
        throw new Error('snapshot closed');
      },
    });
    await drained(w);
    expect(w.state('c')).toBeUndefined();
    w.close();
  });
});
