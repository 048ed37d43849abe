import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { configReferencePath, formatConfigReference } from '../../src/config/reference.js';
import { configSchema } from '../../src/config/schema.js';

describe('docs/configuration.md', () => {
  it('matches the schema (run `npm run docs:config` after changing src/config/schema.ts)', async () => {
    const committed = await readFile(configReferencePath, 'utf8').catch(() => '(missing)');
    expect(committed, 'docs/configuration.md is out of date: run `npm run docs:config`').toBe(
      await formatConfigReference(),
    );
  });

  it('has a section for every top-level setting that is a section or a list', async () => {
    const text = await formatConfigReference();
    for (const key of Object.keys(configSchema.shape)) expect(text).toContain(`\`${key}\``);
    expect(text).toContain('`FEDPROXY_SERVER__PUBLIC_URL`');
    expect(text).toContain('`idps[]` with `type: saml`');
  });
});
