"""Measuring: a set read into Arrow, its columns converted once, and every number judged.

Modules: `reading` (files and frames into Arrow), `columns` (a column as sorted numbers or
category counts), `drift`, `quality` and `performance` (the measures, p-values and standard
errors of each part of a report). They return numbers only; `vigil.verdict` decides.
"""
