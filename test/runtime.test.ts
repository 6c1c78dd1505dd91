/** The process's runtime: made once, a failed start tried again, a runtime put in kept. */
import { afterEach, describe, expect, it, vi } from 'vitest';

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('runtime()', () => {
  it('is made once and then shared', async () => {
    const { runtime } = await import('../lib/runtime.ts');
    expect(await runtime()).toBe(await runtime());
  });

  it('tries a failed start again on the next call instead of failing forever', async () => {
    vi.stubEnv('BIZ_SERVICE_PORT', 'not-a-port');
    const { runtime } = await import('../lib/runtime.ts');
    await expect(runtime()).rejects.toThrow(/^BIZ_SERVICE_PORT/);
    vi.stubEnv('BIZ_SERVICE_PORT', '5000');
    await expect(runtime()).resolves.toMatchObject({ config: { port: 5000 } });
  });

  it('keeps a runtime put in with setRuntime while a failing start was under way', async () => {
    vi.stubEnv('BIZ_SERVICE_PORT', 'not-a-port');
    const { createRuntime, runtime, setRuntime } = await import('../lib/runtime.ts');
    const { loadConfig } = await import('../lib/config.ts');
    const failing = runtime();
    const mine = setRuntime(createRuntime(loadConfig({ BIZ_SERVICE_PORT: '6000' })));
    await expect(failing).rejects.toThrow(/BIZ_SERVICE_PORT/);
    expect(await runtime()).toBe(mine);
  });
});
