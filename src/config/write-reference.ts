/**
 * `npm run docs:config`: regenerates docs/configuration.md from the schema. Run it after changing
 * src/config/schema.ts; test/config/reference.test.ts fails until the committed file matches.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { configReferencePath, formatConfigReference } from './reference.js';

await mkdir(dirname(configReferencePath), { recursive: true });
await writeFile(configReferencePath, await formatConfigReference());
console.log(`wrote ${relative(process.cwd(), configReferencePath)}`);
