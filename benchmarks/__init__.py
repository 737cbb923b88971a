"""The benchmark of issue 15: logmetrics against GoAccess on the same generated month.

A package so that the tests import its pieces; run it with ``python benchmarks/run.py``
(see ``benchmarks/README.md``). ``genlogs`` writes the month that ``traffic`` plans,
``measure`` runs one process and measures it, ``runs`` is the plan of runs, ``verdicts``
turns the runs into rows and PASS/FAIL lines, ``render`` writes them as text and Markdown,
``profiling`` serves ``--profile``.
"""
