// Listing a bundle folder (the plugin's cache and its size table read it the same way).

import { readdir } from 'node:fs/promises';
import path from 'node:path';

/** Every file under `dir` (paths relative to it, '/'-separated), sorted. */
export async function listFiles(dir, rel = '') {
  const out = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, r)));
    else if (e.isFile()) out.push(r);
  }
  return out.sort();
}
