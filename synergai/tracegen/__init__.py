"""Trace generators: converters from external measurements into the trace CSV schema."""
