"""Tests of tracegraph.ops (provenance tracking)."""
