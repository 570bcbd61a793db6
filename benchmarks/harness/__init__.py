"""The benchmark harness.

Driver side (standard library only, runs in any Python >= 3.9):
    envs.py     the two benchmark venvs, built on demand and cached
    driver.py   worker processes, calibration and interleaved rounds
    stats.py    medians, quartiles, overheads and ratios
    report.py   the markdown table and the JSON document

Worker side (runs inside a benchmark venv, imports OpenTelemetry):
    worker.py   the line protocol, set-up and the telemetry check
    sdk.py      the SDK set-up every variant shares
    floor.py    the SDK-only replay of one instrumented call
"""
