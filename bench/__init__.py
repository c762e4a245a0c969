"""The HTTP benchmark of issue 12 (``bench/bench_http.py``) and its floor app (``bench/floor``)."""
