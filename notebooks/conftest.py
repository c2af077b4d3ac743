"""nbval settings for the course notebooks (``tests/test_notebooks.py`` runs strict nbval here).

Graphviz's SVG differs between Graphviz versions and machines (a version comment, coordinates,
fonts), so SVG output is not compared. Every graph drawn by ``viz.draw`` also carries a
``text/plain`` version, the graph as a text listing built from the same model as the DOT source
(names, shapes, values, gradients, rules), and that *is* compared.
"""


def pytest_collectstart(collector):
    if hasattr(collector, "skip_compare"):          # nbval's notebook collector
        collector.skip_compare = tuple(collector.skip_compare) + ("image/svg+xml",)
