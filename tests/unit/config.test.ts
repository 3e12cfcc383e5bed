import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseSecretKeys } from '../../src/config.js';

describe('loadConfig', () => {
  it('defaults to the embedded backends', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(8080);
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.REDIS_URL).toBeUndefined();
    expect(c.LYSS_DATA_DIR).toBe('./data');
    expect(c.LYSS_RELAY_RETRIES).toBe(2);
    expect(c.LYSS_REDIS_FAILURE_MODE).toBe('closed');
  });

  it('names every bad variable at once', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'abc', DATABASE_URL: 'nonsense', REDIS_URL: 'http://x', LOG_LEVEL: 'loud', LYSS_SECRET_KEY: 'short' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'DATABASE_URL', 'REDIS_URL', 'LOG_LEVEL', 'LYSS_SECRET_KEY']) expect(problems).toContain(name);
  });

  it('accepts a Redis Cluster node list and parses numbers and JSON', () => {
    const c = loadConfig({
      REDIS_URL: 'redis://127.0.0.1:7001,redis://127.0.0.1:7002',
      PORT: '9000',
      LYSS_MODEL_RATIOS: '{"gpt-4o": 2.5}',
      DATABASE_URL: 'postgres://u@localhost:5432/db',
    });
    expect(c.PORT).toBe(9000);
    expect(c.LYSS_MODEL_RATIOS).toEqual({ 'gpt-4o': 2.5 });
  });

  it('rejects ratios that are not a JSON map of positive numbers', () => {
    expect(() => loadConfig({ LYSS_MODEL_RATIOS: '{"m": -1}' })).toThrow(/LYSS_MODEL_RATIOS/);
    expect(() => loadConfig({ LYSS_MODEL_RATIOS: 'not json' })).toThrow(/LYSS_MODEL_RATIOS/);
  });

  it('reads LYSS_CORS_ORIGINS as any origin, none, or a list of origins, and refuses what is not an origin', () => {
    expect(loadConfig({}).LYSS_CORS_ORIGINS).toBe('*');
    expect(loadConfig({ LYSS_CORS_ORIGINS: 'none' }).LYSS_CORS_ORIGINS).toEqual([]);
    expect(loadConfig({ LYSS_CORS_ORIGINS: 'https://a.example, http://localhost:5173' }).LYSS_CORS_ORIGINS).toEqual(['https://a.example', 'http://localhost:5173']);
    expect(() => loadConfig({ LYSS_CORS_ORIGINS: 'a.example' })).toThrow(/LYSS_CORS_ORIGINS/);
    expect(() => loadConfig({ LYSS_CORS_ORIGINS: 'https://a.example/app' })).toThrow(/not an origin/);
  });

  it('takes numbers as plain digits only, saying what range it wants', () => {
    for (const bad of [' ', '0x50', '1e4', '80.5', '-1', 'abc']) {
      expect(() => loadConfig({ PORT: bad })).toThrow('PORT: must be a whole number from 0 to 65535');
    }
    expect(() => loadConfig({ LYSS_SHUTDOWN_GRACE_MS: ' ' })).toThrow('LYSS_SHUTDOWN_GRACE_MS: must be a whole number of at least 0');
    expect(() => loadConfig({ PORT: '70000' })).toThrow('PORT: must be at most 65535');
    expect(loadConfig({ PORT: '08080' }).PORT).toBe(8080);
    expect(loadConfig({ PORT: '8080\r' }).PORT).toBe(8080);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', PORT: '' }).PORT).toBe(8080);
  });
});

describe('parseSecretKeys', () => {
  const k = (b: number) => Buffer.alloc(32, b).toString('base64');
  it('reads one unversioned key as version 1', () => {
    expect(parseSecretKeys(k(1))?.map((x) => x.version)).toEqual([1]);
  });
  it('reads versioned keys, current first, and hex keys', () => {
    const keys = parseSecretKeys(`2:${k(2)},1:${'ab'.repeat(32)}`);
    expect(keys?.map((x) => x.version)).toEqual([2, 1]);
    expect(keys?.[1]?.key.equals(Buffer.alloc(32, 0xab))).toBe(true);
  });
  it('rejects wrong lengths, duplicate versions and unversioned entries in a list', () => {
    expect(parseSecretKeys('c2hvcnQ=')).toBeNull();
    expect(parseSecretKeys(`1:${k(1)},1:${k(2)}`)).toBeNull();
    expect(parseSecretKeys(`2:${k(1)},${k(2)}`)).toBeNull();
  });
});
