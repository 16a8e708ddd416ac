// Helpers for programs whose ops carry subgraph attributes ({ $graph: ... }, docs/bundle-format.md).

/** Names of the values that subgraph attributes ($graph) of `ops` read from enclosing graphs. */
export function capturedNames(ops, out = new Set()) {
  const visit = (attr) => {
    if (Array.isArray(attr)) attr.forEach(visit);
    else if (attr && typeof attr === 'object' && attr.$graph && typeof attr.$graph === 'object') {
      const g = attr.$graph;
      for (const vi of g.captures ?? []) if (g.values?.[vi]) out.add(g.values[vi].name);
      capturedNames(g.ops ?? [], out);
    }
  };
  for (const op of ops) Object.values(op.attrs ?? {}).forEach(visit);
  return out;
}
