/** `npm run schemas`: regenerates schema/*.json from the zod schemas. */
import { writeFileSync } from 'node:fs';
import { jsonSchemas, renderSchema } from './json-schemas.js';

for (const [name, schema] of Object.entries(jsonSchemas())) {
  writeFileSync(new URL(`../schema/${name}`, import.meta.url), renderSchema(schema));
  console.log(`wrote schema/${name}`);
}
