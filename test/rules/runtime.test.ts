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
  it('gives each part it is not handed its own default; stores passed in admit with their own rate limit', async () => {
    const { createRuntime } = await import('../../lib/runtime.ts');
    const { loadConfig } = await import('../../lib/config.ts');
    const { MemoryCommandStore, MemoryRevocationStore } = await import('../../lib/store/memory.ts');
    const config = loadConfig({ RATE_LIMIT_REQUESTS: '5' });
    const revocations = new MemoryRevocationStore(() => Math.floor(Date.now() / 1000), config);
    const commands = new MemoryCommandStore(config, revocations);

    const runtime = createRuntime(config, { commands, revocations });

    expect(runtime.commands).toBe(commands);
    expect(runtime.revocations).toBe(revocations);
    const token = { jti: 'j-1', sub: 'agent-001', iat: 1, exp: 2 };
    const answers = [];
    for (let i = 0; i < 6; i += 1) {
      answers.push(
        await runtime.commands.fetch('agent-001', 1, Date.now(), { token, now: Date.now() }).then(
          () => 'ok',
          (error: Error) => error.name,
        ),
      );
    }
    expect(answers).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'RateLimitedError']);
  });

  it('refuses to admit with a command store that was given no revocation store, rather than skip the check', async () => {
    const { MemoryCommandStore } = await import('../../lib/store/memory.ts');
    const commands = new MemoryCommandStore({ resultRetentionSeconds: 60 });
    await expect(commands.fetch('a', 1, 0, { token: { jti: 'j', sub: 'a', iat: 1, exp: 2 }, now: 0 })).rejects.toThrow(
      /without a revocation store/,
    );
  });
});
