"""Framework adapters, one package per framework, found by name through bench.running.registry."""
