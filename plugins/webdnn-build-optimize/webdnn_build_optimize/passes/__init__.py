"""One module per pass; each exports ``run(graph, ctx) -> bool`` (True when it changed the graph)."""
