"""The bottom layer, importing nothing of ours: config schemas, the error base class, value checks, atomic files, threads."""
