"""Pin NumPy's BLAS and PyTorch to one thread each, before either is imported.

On a 2-core machine two libraries with their own thread pools, timed in turn, slow each other down
(idle pool threads keep spinning); one thread each makes the comparison fair and repeatable. With
``TAPEGRAD_BENCH_THREADS=default`` nothing is pinned: every library runs with its own default thread
count, as users run them.
"""

import os

PINNED = os.environ.get("TAPEGRAD_BENCH_THREADS", "1") != "default"

if PINNED:
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
