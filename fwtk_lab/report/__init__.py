"""Gather finished runs into a table, checks and a plot: `python -m fwtk_lab.report DIR... [--spec FILE.yaml]`.

runs: the run directories (config.yaml + metrics.json); table: rows over seeds and the markdown table;
spec: a page's own title, legend, row order and expectations, from a YAML file; checks: the expectations
met / not met; plot: the PNG (matplotlib, imported there only); page: the markdown page; __main__: the command.
"""
