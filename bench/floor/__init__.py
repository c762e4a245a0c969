"""The floor: the cheapest useful Django endpoint on the same stack as the desk (one INSERT and
a COMMIT behind gunicorn, on the same PostgreSQL). The desk's flow is measured against it."""
