"""Presets: literature modules built from the parts."""
