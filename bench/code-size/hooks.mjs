// Module-loading hook that records every file: URL Node loads (used by measure.mjs).
export async function load(url, context, nextLoad) {
  if (url.startsWith('file:')) process.stderr.write(`@@loaded ${url}\n`);
  return nextLoad(url, context);
}
