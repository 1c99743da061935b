"""Baseline for bench_ingest.py: a bare Functions Framework handler that answers 202."""

import functions_framework


@functions_framework.http
def bare(request):
    request.get_data()
    return ('{"accepted":1}', 202, {"Content-Type": "application/json"})
