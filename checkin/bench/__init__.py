"""Benchmarks behind `baodao bench` and `baodao calibrate`: accuracy, speed, calibration."""
