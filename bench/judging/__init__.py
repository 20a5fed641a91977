"""Judging: claims and their verdicts, the report, compare tables, plots, export, importers."""
