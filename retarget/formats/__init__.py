"""Readers (and writers) of human-motion file formats, each producing a `HumanMotion`."""
