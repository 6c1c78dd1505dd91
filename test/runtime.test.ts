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
    vi.stubEnv('COMMAND_TTL_SECONDS', 'not-a-number');
    const { runtime } = await import('../lib/runtime.ts');
    await expect(runtime()).rejects.toThrow(/^COMMAND_TTL_SECONDS/);
    vi.stubEnv('COMMAND_TTL_SECONDS', '5000');
    await expect(runtime()).resolves.toMatchObject({ config: { commandTtlSeconds: 5000 } });
  });

  it('keeps a runtime put in with setRuntime while a failing start was under way', async () => {
    vi.stubEnv('COMMAND_TTL_SECONDS', 'not-a-number');
    const { createRuntime, runtime, setRuntime } = await import('../lib/runtime.ts');
    const { loadConfig } = await import('../lib/config.ts');
    const failing = runtime();
    const mine = setRuntime(createRuntime(loadConfig({ COMMAND_TTL_SECONDS: '6000' })));
    await expect(failing).rejects.toThrow(/COMMAND_TTL_SECONDS/);
    expect(await runtime()).toBe(mine);
  });
});

describe('createRuntime(config, parts)', () => {
  it('gives each part it is not handed its own default: stores passed in keep the configured rate limiter', async () => {
    const { createRuntime } = await import('../lib/runtime.ts');
    const { loadConfig } = await import('../lib/config.ts');
    const { MemoryCommandStore, MemoryRevocationStore } = await import('../lib/store/memory.ts');
    const config = loadConfig({ RATE_LIMIT_REQUESTS: '5' });
    const commands = new MemoryCommandStore(config);
    const revocations = new MemoryRevocationStore(() => Math.floor(Date.now() / 1000));

    const runtime = createRuntime(config, { commands, revocations });

    expect(runtime.commands).toBe(commands);
    expect(runtime.revocations).toBe(revocations);
    expect(runtime.rateLimiter).toBeDefined();
    const answers = [];
    for (let i = 0; i < 6; i += 1) answers.push((await runtime.rateLimiter?.limit('agent-001'))?.success);
    expect(answers).toEqual([true, true, true, true, true, false]);
  });

  it('has no rate limiter when told so explicitly, or when none is configured', async () => {
    const { createRuntime } = await import('../lib/runtime.ts');
    const { loadConfig } = await import('../lib/config.ts');
    expect(createRuntime(loadConfig({ RATE_LIMIT_REQUESTS: '5' }), { rateLimiter: undefined }).rateLimiter).toBeUndefined();
    expect(createRuntime(loadConfig({})).rateLimiter).toBeUndefined();
  });
});
