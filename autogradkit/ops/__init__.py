"""The primitive ops, grouped by kind. Each is one small class: ``forward`` on arrays, and
``backward`` — its local derivative rule — next to it. Composite functions (``var``, ``std``…)
are built from these where that is exact and stable; a fused rule exists only where it is needed
for speed or numerical stability, and says so."""
