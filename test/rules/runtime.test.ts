/** The process's runtime: made once, a failed start tried again, a runtime put in kept. */
import { afterEach, describe, expect, it, vi } from 'vitest';

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('runtime()', () => {
  it('is made once and then shared', async () => {
    const { runtime } = await import('../../lib/runtime.ts');
    expect(await runtime()).toBe(await runtime());
  });

  it('tries a failed start again on the next call instead of failing forever', async () => {
    vi.stubEnv('COMMAND_TTL_SECONDS', 'not-a-number');
    const { runtime } = await import('../../lib/runtime.ts');
    await expect(runtime()).rejects.toThrow(/^COMMAND_TTL_SECONDS/);
    vi.stubEnv('COMMAND_TTL_SECONDS', '5000');
    await expect(runtime()).resolves.toMatchObject({ config: { commandTtlSeconds: 5000 } });
  });

  it('keeps a runtime put in with setRuntime while a failing start was under way', async () => {
    vi.stubEnv('COMMAND_TTL_SECONDS', 'not-a-number');
    const { createRuntime, runtime, setRuntime } = await import('../../lib/runtime.ts');
    const { loadConfig } = await import('../../lib/config.ts');
    const failing = runtime();
    const mine = setRuntime(createRuntime(loadConfig({ COMMAND_TTL_SECONDS: '6000' })));
    await expect(failing).rejects.toThrow(/COMMAND_TTL_SECONDS/);
    expect(await runtime()).toBe(mine);
  });
});

describe('createRuntime(config, parts)', () => {
  it('runs on the stores it is handed: their state reads through runtime.stores, their gate counts with their rate limit', async () => {
    const { createRuntime } = await import('../../lib/runtime.ts');
    const { loadConfig } = await import('../../lib/config.ts');
    const { createMemoryStores, memoryBackend } = await import('../../lib/store/memory.ts');
    const config = loadConfig({ RATE_LIMIT_REQUESTS: '5' });
    const memory = createMemoryStores(config, () => Math.floor(Date.now() / 1000));
    await memory.commands.putConfig('agent-001', { poll_interval_seconds: 15 });

    const runtime = createRuntime(config, { stores: memoryBackend(memory) });

    expect(await runtime.stores.unchecked.commands.getConfig('agent-001')).toEqual({ poll_interval_seconds: 15 });
    const token = { jti: 'j-1', sub: 'agent-001', iat: 1, exp: 2 };
    const answers = [];
    for (let i = 0; i < 6; i += 1) {
      const stores = runtime.stores.admitted({ token, now: Date.now() });
      answers.push(
        await stores.commands.fetch('agent-001', 1, Date.now()).then(
          () => 'ok',
          (error: Error) => error.name,
        ),
      );
    }
    expect(answers).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'RateLimitedError']);
  });

  it('gates by the view: the admitted stores refuse a revoked token before the action, the unchecked ones take no token', async () => {
    const { createRuntime } = await import('../../lib/runtime.ts');
    const { loadConfig } = await import('../../lib/config.ts');
    const runtime = createRuntime(loadConfig({}));
    const { unchecked } = runtime.stores;
    await unchecked.revocations.revokeToken('j-gone', Math.floor(Date.now() / 1000) + 600);
    const admitted = runtime.stores.admitted({ token: { jti: 'j-gone', sub: 'ops', iat: 1, exp: 2 }, now: Date.now() });

    await expect(admitted.commands.putConfig('agent-001', { a: 1 })).rejects.toMatchObject({ name: 'TokenError', reason: 'token_revoked' });
    await expect(admitted.admit()).rejects.toMatchObject({ reason: 'token_revoked' });
    expect(await unchecked.commands.getConfig('agent-001')).toBeUndefined();
    await unchecked.commands.putConfig('agent-001', { a: 1 });
    expect(await unchecked.commands.getConfig('agent-001')).toEqual({ a: 1 });
  });
});
