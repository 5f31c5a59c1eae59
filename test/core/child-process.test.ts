import { describe, expect, it } from 'vitest';
import { OwnedProcess } from '../../src/core/child-process.js';

const node = (name: string, script: string) => new OwnedProcess(name, process.execPath, ['-e', script]);

describe('OwnedProcess', () => {
  it('waits for a line of output, then stops the process with SIGTERM and awaits its exit', async () => {
    await using p = node(
      'server',
      "console.log('listening on 127.0.0.1:4242'); setInterval(() => {}, 1000);",
    );
    const w = await p.waitForOutput(/listening on [^:]+:(\d+)/, 30_000);
    expect(w.ok && w.match[1]).toBe('4242');
    expect(p.running).toBe(true);
    const exit = await p.stop();
    expect(exit.signal).toBe('SIGTERM');
    expect(p.running).toBe(false);
    expect(await p.stop()).toBe(exit);
  });

  it('reports an exit before readiness with everything the process printed', async () => {
    await using p = node('broken', "console.error('bind: address already in use'); process.exit(3);");
    const w = await p.waitForOutput(/accepting connections/, 30_000);
    expect(w.ok).toBe(false);
    expect(!w.ok && w.reason === 'exited' && w.exit.code).toBe(3);
    expect(p.output).toContain('address already in use');
  });

  it('reports a command that cannot be started', async () => {
    await using p = new OwnedProcess('missing', '/nonexistent/strata-no-such-server', []);
    const w = await p.waitForOutput(/accepting connections/, 30_000);
    expect(!w.ok && w.reason === 'exited' && w.exit.error?.message).toMatch(/ENOENT/);
    expect(p.output).toMatch(/spawn failed/);
    expect((await p.stop()).code).toBeNull();
  });

  it('sends SIGKILL when SIGTERM is ignored past the grace period', async () => {
    const p = node(
      'stubborn',
      "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000);",
    );
    expect((await p.waitForOutput(/up/, 30_000)).ok).toBe(true);
    const exit = await p.stop(200);
    expect(exit.signal).toBe('SIGKILL');
  });

  it('says when the wait ran out', async () => {
    await using p = node('silent', 'setInterval(() => {}, 1000);');
    const w = await p.waitForOutput(/never/, 100);
    expect(!w.ok && w.reason).toBe('timeout');
  });
});
