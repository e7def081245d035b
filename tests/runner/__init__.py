"""Tests of the ablation runner (se_variants.runner); a package so file names never clash with tests/."""
