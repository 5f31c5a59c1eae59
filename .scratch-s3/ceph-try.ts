import { startCeph } from '../test/servers/ceph.js';
const t0 = Date.now();
const s = await startCeph();
console.log('up in', Date.now() - t0, s.endpoint);
const t1 = Date.now();
await s.stop();
console.log('stopped in', Date.now() - t1);
