import { startCeph } from '../test/servers/ceph.js';
import { S3Client, CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand } from '@aws-sdk/client-s3';
const s = await startCeph();
try {
  const c = new S3Client({ ...s.storeOptions(''), maxAttempts: 1 });
  c.middlewareStack.add((next) => async (args) => { const r = await next(args); const resp = (r.response as any); if (resp?.body && String((args.request as any).query?.uploadId ?? '').length && (args.request as any).method === 'POST') { } return r; }, { step: 'deserialize', name: 'x' });
  const cr = await c.send(new CreateMultipartUploadCommand({ Bucket: s.bucket, Key: 'k' }));
  const p = await c.send(new UploadPartCommand({ Bucket: s.bucket, Key: 'k', UploadId: cr.UploadId, PartNumber: 1, Body: Buffer.alloc(100, 1) }));
  console.log('part etag', p.ETag);
  const done = await c.send(new CompleteMultipartUploadCommand({ Bucket: s.bucket, Key: 'k', UploadId: cr.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.ETag }] } }));
  console.log(done);
  // raw via fetch not signed; use smithy to log body
} finally { await s.stop(); }
